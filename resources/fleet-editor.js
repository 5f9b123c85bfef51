/*
 * The fleet table of a config node's edit dialog (blynk-device, thingsboard-device hosting a
 * fleet; docs/ARCHITECTURE.md 3.8): list, add, remove, a new token, show and copy a token, CSV
 * export and import, through the node's admin endpoints (nodes/lib/node-red/fleet-admin.ts); and
 * the editor definition of the fleet control nodes (blynk-fleet, thingsboard-fleet).
 * Served by Node-RED at resources/@iot-bridge/node-red/fleet-editor.js. Every value goes into
 * the page as text (jQuery .text / .val), never as HTML.
 */
(function () {
    "use strict";
    if (window.IotBridgeFleet) return;

    /**
     * Fills `container` (a jQuery element) with the table of the deployed node `options.id`.
     * options: {type, id, t(key, args) -> text, fields: credential fields shown in the add row
     * (["token"] or ["token", "clientId", "username", "password"]), pins: whether devices have pin maps}.
     */
    function mount(container, options) {
        const t = options.t;
        const base = options.type + "/" + encodeURIComponent(options.id) + "/fleet";
        container.empty().addClass("iotb-fleet");
        const note = $("<div>").addClass("form-tips").appendTo(container);
        const table = $("<table>").addClass("iotb-fleet-table").appendTo(container);
        const head = $("<tr>").appendTo($("<thead>").appendTo(table));
        [t("fleet.column.name"), t("fleet.column.id")].concat(options.pins ? [t("fleet.column.pins")] : []).concat([t("fleet.column.token"), ""]).forEach((h) => $("<th>").text(h).appendTo(head));
        const body = $("<tbody>").appendTo(table);

        const add = $("<div>").addClass("iotb-fleet-add").appendTo(container);
        const nameIn = $("<input type='text'>").attr("placeholder", t("fleet.placeholder.name")).appendTo(add);
        const fieldIns = {};
        options.fields.forEach((f) => {
            fieldIns[f] = $(f === "password" ? "<input type='password' autocomplete='new-password'>" : "<input type='text' autocomplete='off'>").attr("placeholder", t("fleet.placeholder." + f)).appendTo(add);
        });
        const pinsIn = options.pins ? $("<input type='text'>").attr("placeholder", t("fleet.placeholder.pins")).appendTo(add) : null;
        const addBtn = $("<button type='button' class='red-ui-button'>").append($("<i class='fa fa-plus'>")).append(document.createTextNode(" " + t("fleet.add"))).appendTo(add);

        const tools = $("<div>").addClass("iotb-fleet-tools").appendTo(container);
        const exportBtn = $("<button type='button' class='red-ui-button'>").append($("<i class='fa fa-download'>")).append(document.createTextNode(" " + t("fleet.export"))).appendTo(tools);
        const importBtn = $("<button type='button' class='red-ui-button'>").append($("<i class='fa fa-upload'>")).append(document.createTextNode(" " + t("fleet.import"))).appendTo(tools);
        const file = $("<input type='file' accept='.csv,text/csv'>").hide().appendTo(tools);

        /** RED.notify shows HTML: every text (names, errors) goes in escaped. */
        function notify(text, how) {
            RED.notify($("<div>").text(text).html(), how);
        }
        function failed(xhr) {
            const text = (xhr && xhr.responseJSON && xhr.responseJSON.error) || (xhr && xhr.statusText) || "?";
            notify(t("fleet.failed", { error: text }), { type: "error" });
        }
        function request(method, path, data) {
            return $.ajax({ url: base + path, method: method, contentType: "application/json", data: data === undefined ? undefined : JSON.stringify(data), cache: false });
        }
        function copy(text) {
            if (navigator.clipboard && navigator.clipboard.writeText) {
                navigator.clipboard.writeText(text).then(() => notify(t("fleet.copied"), { type: "compact", timeout: 2000 }), () => notify(t("fleet.copy-failed"), "warning"));
            } else {
                notify(t("fleet.copy-failed"), "warning");
            }
        }

        function row(device) {
            const tr = $("<tr>").appendTo(body);
            $("<td>").text(device.name).appendTo(tr);
            $("<td>").append($("<code>").text(device.id)).appendTo(tr);
            if (options.pins) {
                const pins = device.pins ? Object.keys(device.pins).map((p) => p.toUpperCase() + "=" + device.pins[p]).join(", ") : "";
                $("<td>").text(pins).appendTo(tr);
            }
            const tokenCell = $("<td>").appendTo(tr);
            const shown = $("<code>").text("••••••••").appendTo(tokenCell);
            const buttons = $("<td>").addClass("iotb-fleet-buttons").appendTo(tr);
            const button = (icon, title, action) => $("<button type='button' class='red-ui-button red-ui-button-small'>").attr("title", title).append($("<i>").addClass("fa " + icon)).on("click", (evt) => { evt.preventDefault(); action(); }).appendTo(buttons);
            const credentials = () => request("GET", "/" + encodeURIComponent(device.id) + "/credentials").then((r) => r.credentials);
            button("fa-eye", t("fleet.show"), () => credentials().then((c) => shown.text(c.token || ""), failed));
            button("fa-clipboard", t("fleet.copy"), () => credentials().then((c) => copy(c.token || ""), failed));
            button("fa-random", t("fleet.renew"), () => {
                if (!window.confirm(t("fleet.confirm-renew", { name: device.name }))) return;
                request("POST", "/" + encodeURIComponent(device.id) + "/renew").then((d) => { shown.text(d.credentials.token || ""); notify(t("fleet.renewed", { name: device.name }), { type: "compact", timeout: 4000 }); }, failed);
            });
            button("fa-trash", t("fleet.remove"), () => {
                if (!window.confirm(t("fleet.confirm-remove", { name: device.name }))) return;
                request("DELETE", "/" + encodeURIComponent(device.id)).then(load, failed);
            });
        }

        function load() {
            return request("GET", "").then((answer) => {
                body.empty();
                note.text(answer.available ? t("fleet.count", { count: answer.devices.length }) : t("fleet.broker-stopped"));
                answer.devices.forEach(row);
                add.toggle(answer.available);
                importBtn.prop("disabled", !answer.available);
            }, (xhr) => {
                body.empty();
                add.hide();
                tools.hide();
                table.hide();
                note.text(xhr.status === 404 ? t("fleet.not-deployed") : t("fleet.failed", { error: xhr.statusText || String(xhr.status) }));
            });
        }

        addBtn.on("click", (evt) => {
            evt.preventDefault();
            const device = { name: String(nameIn.val() || "").trim() };
            const credentials = {};
            options.fields.forEach((f) => {
                const v = String(fieldIns[f].val() || "").trim();
                if (v !== "") credentials[f] = v;
            });
            if (Object.keys(credentials).length > 0) device.credentials = credentials;
            if (pinsIn && String(pinsIn.val() || "").trim() !== "") device.pins = String(pinsIn.val()).trim();
            request("POST", "", device).then((d) => {
                nameIn.val("");
                options.fields.forEach((f) => fieldIns[f].val(""));
                if (pinsIn) pinsIn.val("");
                notify(t("fleet.added", { name: d.name }), { type: "compact", timeout: 4000 });
                load();
            }, failed);
        });
        exportBtn.on("click", (evt) => {
            evt.preventDefault();
            $.ajax({ url: base + "/export", method: "GET", dataType: "text", cache: false }).then((csv) => {
                const link = document.createElement("a");
                link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
                link.download = "fleet-" + options.id + ".csv";
                document.body.appendChild(link);
                link.click();
                setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
            }, failed);
        });
        importBtn.on("click", (evt) => { evt.preventDefault(); file.val("").trigger("click"); });
        file.on("change", () => {
            const chosen = file[0].files && file[0].files[0];
            if (!chosen) return;
            chosen.text().then((csv) => request("POST", "/import", { csv: csv })).then((r) => {
                const lines = r.errors.map((e) => t("fleet.import-error", { line: e.line, error: e.error }));
                RED.notify([t("fleet.imported", { added: r.added, changed: r.changed })].concat(lines).map((l) => $("<div>").text(l).html()).join("<br>"), { type: lines.length > 0 ? "warning" : "success", timeout: 8000 });
                load();
            }, failed);
        });
        load();
    }

    /**
     * Registers a platform's fleet control node (blynk-fleet, thingsboard-fleet): the same node for
     * every platform, only its type, colour and config node type differ. options: {color, configType}.
     */
    function registerNode(type, options) {
        const namespace = "@iot-bridge/node-red/" + type;
        /** Translates a key of the node's catalog; `who` is the node or its definition. */
        function t(who, key, args) {
            if (who && typeof who._ === "function") return who._(type + "." + key, args);
            return RED._(namespace + ":" + type + "." + key, args);
        }
        RED.nodes.registerType(type, {
            category: "IoT Bridge",
            color: options.color,
            defaults: {
                name: { value: "" },
                device: { value: "", type: options.configType, required: true },
            },
            inputs: 1,
            outputs: 2,
            icon: "font-awesome/fa-sitemap",
            label: function () {
                return this.name || t(this, "paletteLabel");
            },
            labelStyle: function () {
                return this.name ? "node_label_italic" : "";
            },
            paletteLabel: function () {
                return t(this, "paletteLabel");
            },
            inputLabels: function (_index) {
                return t(this, "inputLabels");
            },
            outputLabels: function (index) {
                return t(this, index === 0 ? "outputLabels.answer" : "outputLabels.events");
            },
        });
    }

    window.IotBridgeFleet = { mount: mount, registerNode: registerNode };
})();
