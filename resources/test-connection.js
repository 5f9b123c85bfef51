/*
 * The "Test connection" button of a device config node's edit dialog (blynk-device,
 * thingsboard-device, thingspeak-channel): it reads the dialog's current values (every
 * #node-config-input-* field, credentials apart), posts them to the admin endpoint
 * POST iot-bridge/test-connection/<type> (nodes/lib/node-red/test-connection.ts), and shows the
 * answer's words: green when it worked, red when not. Served by Node-RED at
 * resources/@iot-bridge/node-red/test-connection.js. Values go into the page as text, never as HTML.
 */
(function () {
    "use strict";

    /** What the dialog holds for a password it did not change: the endpoint then uses the stored one. */
    const STORED_SECRET = "__PWRD__";
    const FIELD_PREFIX = "node-config-input-";
    /** The value of a config node picker's "Add new ..." entry. */
    const ADD_NEW = "_ADD_";
    const COLORS = { ok: "#2e7d32", failed: "#c62828", busy: "" };

    /**
     * The request body from the dialog's fields: `entries` are [{id, value}] of its inputs,
     * `credentialFields` the type's credential names. Pure (no DOM), for unit tests.
     */
    function collectSettings(nodeId, entries, credentialFields) {
        const config = {};
        const credentials = {};
        entries.forEach(function (entry) {
            if (typeof entry.id !== "string" || entry.id.indexOf(FIELD_PREFIX) !== 0) return;
            const field = entry.id.slice(FIELD_PREFIX.length);
            if (field === "" || field.indexOf("-") >= 0) return;
            if (credentialFields.indexOf(field) >= 0) credentials[field] = typeof entry.value === "string" ? entry.value : "";
            // A config node picker offering "Add new ..." holds no node yet.
            else config[field] = entry.value === ADD_NEW ? "" : entry.value;
        });
        // A credential the dialog has no field for stays the stored one.
        credentialFields.forEach(function (field) {
            if (!Object.prototype.hasOwnProperty.call(credentials, field)) credentials[field] = STORED_SECRET;
        });
        return { id: nodeId, config: config, credentials: credentials };
    }

    /** What to show for an answer (or a failed request): {text, state: "ok" | "failed"}. Pure. */
    function resultView(answer, t) {
        if (answer && typeof answer.message === "string" && typeof answer.ok === "boolean") {
            return { text: answer.message, state: answer.ok ? "ok" : "failed" };
        }
        const why = answer && typeof answer.error === "string" ? answer.error : String((answer && answer.status) || "?");
        return { text: t("error", { error: why }), state: "failed" };
    }

    /** The dialog's inputs as [{id, value}]: checkboxes as booleans, everything else as its value. */
    function readFields(scope) {
        const entries = [];
        scope.find("[id^='" + FIELD_PREFIX + "']").each(function () {
            const el = $(this);
            if (!el.is("input, select, textarea")) return;
            entries.push({ id: this.id, value: el.is(":checkbox") ? el.is(":checked") : el.val() });
        });
        return entries;
    }

    /**
     * Puts the button and its result line into `row` (a jQuery element of `node`'s dialog) for
     * config node type `type`: ids `<type>-test-connection` and `<type>-test-connection-result`.
     */
    function mount(node, row, type) {
        const t = function (key, args) { return node._(type + ".test." + key, args); };
        row.empty().addClass("iotb-test-connection");
        const button = $("<button type='button' class='red-ui-button'>").attr("id", type + "-test-connection")
            .append($("<i class='fa fa-plug'>")).append(document.createTextNode(" " + t("button"))).appendTo(row);
        const result = $("<div>").attr("id", type + "-test-connection-result").attr("role", "status")
            .addClass("iotb-test-connection-result").css({ marginTop: "6px", whiteSpace: "normal" }).appendTo(row);
        const show = function (text, state) {
            result.text(text).attr("data-state", state).css("color", COLORS[state]);
        };
        let busy = false;
        button.on("click", function () {
            if (busy) return;
            busy = true;
            button.prop("disabled", true);
            show(t("testing"), "busy");
            const definition = RED.nodes.getType(type);
            const credentialFields = Object.keys((definition && definition.credentials) || {});
            const scope = row.closest("form").length ? row.closest("form") : $(document.body);
            const body = collectSettings(node.id, readFields(scope), credentialFields);
            $.ajax({ url: "iot-bridge/test-connection/" + encodeURIComponent(type), type: "POST", contentType: "application/json", data: JSON.stringify(body), dataType: "json" })
                .done(function (answer) {
                    const view = resultView(answer, t);
                    show(view.text, view.state);
                })
                .fail(function (xhr) {
                    const view = resultView(xhr.responseJSON || { status: xhr.status + " " + (xhr.statusText || "") }, t);
                    show(view.text, view.state);
                })
                .always(function () {
                    busy = false;
                    button.prop("disabled", false);
                });
        });
    }

    const api = { mount: mount, collectSettings: collectSettings, resultView: resultView };
    if (typeof window !== "undefined" && !window.IotBridgeTestConnection) window.IotBridgeTestConnection = api;
    if (typeof module !== "undefined" && module.exports) module.exports = { collectSettings: collectSettings, resultView: resultView };
})();
