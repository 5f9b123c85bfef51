/*
 * What the config dialogs (blynk-device, thingsboard-device, thingspeak-channel) share: tabs, the
 * server presets, the iot-broker picker, secret fields (show/hide, generate), hints, the "Test
 * connection" slot, and the checks Node-RED runs before a deploy: a device whose mode needs
 * credentials it lacks, or whose iot-broker is missing or was deleted, is invalid (the red triangle
 * on it and on the flow nodes using it), with the reason in words. The pure checks are in
 * editor-checks.js. Served at resources/@iot-bridge/node-red/editor.js as
 * window.IotBridgeEditor. Values go into the page as text (jQuery .text / .val), never as HTML.
 */
(function () {
    "use strict";
    if (window.IotBridgeEditor) return;
    /**
     * editor-checks.js: the editor loads a dialog's <script src> files in any order, and runs the
     * dialog's own script once all have arrived, so it is looked up when used.
     */
    const lookup = () => window.IotBridgeEditorChecks;
    const MODULE = "@iot-bridge/node-red";

    /** t(key, args) for a key of `type`'s catalog; `who` is a node or a definition (or nothing). */
    function translator(who, type) {
        return function (key, args) {
            if (who && typeof who._ === "function") return who._(type + "." + key, args);
            return RED._(MODULE + "/" + type + ":" + type + "." + key, args);
        };
    }

    /**
     * Nodes whose dialog is open: set by oneditprepare, cleared by oneditsave / oneditcancel. The
     * editor calls oneditsave before it copies the inputs into the node and validates it, so from
     * then on the node's own values count.
     */
    const open = new WeakSet();

    function editing(node) {
        return open.has(node);
    }

    /** A setting: the open dialog's input while this node is edited, else the node's value. */
    function setting(node, name) {
        const input = $("#node-config-input-" + name);
        if (editing(node) && input.length) return input.is(":checkbox") ? input.is(":checked") : input.val();
        return node[name];
    }

    /**
     * A credential as {set: true|false|null, value: text or null}: typed in the open dialog, else
     * what the editor holds (a typed value, or has_<field> of one stored), null when unknown.
     */
    function credential(node, field) {
        const input = $("#node-config-input-" + field);
        if (editing(node) && input.length) {
            const value = String(input.val() ?? "");
            return value === lookup().STORED_SECRET ? { set: true, value: null } : { set: value.trim() !== "", value };
        }
        const creds = node.credentials;
        if (!creds) return { set: null, value: null };
        if (typeof creds[field] === "string") return { set: creds[field].trim() !== "", value: creds[field] };
        if (creds["has_" + field] === true) return { set: true, value: null };
        // `_` is the copy the editor keeps of what it loaded: loaded without the field means unset.
        return { set: creds._ ? false : null, value: null };
    }

    /** The settings credentialsProblem reads; a node without a mode has the first (the runtime's default). */
    function props(node, modes) {
        const out = {};
        ["connection", "hosting", "auth", "provision", "provisionKey", "name"].forEach((p) => (out[p] = setting(node, p)));
        if (!modes.includes(out.connection)) out.connection = modes[0];
        return out;
    }

    /**
     * Validators for a device type's definition: `connection` (the mode, and, outside the dialog,
     * the credentials it needs: that is what makes the node invalid before a deploy), `server`
     * (checked against `rules` for the mode), `broker` (the id of an iot-broker: a flow node, not a
     * config node, so its default has no `type`; with one the editor takes it for a config node
     * reference and fails to save the device), and `credential(field)` (marks the field in the open
     * dialog). The definitions keep literal defaults, which the flow library's scorecard reads.
     */
    function validators(type, modes, rules) {
        return {
            server: function (v, _opt) {
                const mode = setting(this, "connection");
                return lookup().serverProblem(translator(this, type), rules, modes.includes(mode) ? mode : modes[0], v) || true;
            },
            connection: function (v, _opt) {
                const t = translator(this, type);
                if (v !== undefined && v !== "" && !modes.includes(v)) return t("validation.connection", { value: String(v) });
                if (editing(this)) return true;
                const problem = lookup().credentialsProblem(t, type, props(this, modes), (f) => credential(this, f));
                return problem ? problem.text : true;
            },
            broker: function (v, _opt) {
                return lookup().brokerProblem(translator(this, type), setting(this, "connection"), v, (id) => RED.nodes.node(id)) || true;
            },
            credential: function (field) {
                return function (_v, _opt) {
                    if (!editing(this)) return true;
                    const problem = lookup().credentialsProblem(translator(this, type), type, props(this, modes), (f) => credential(this, f));
                    return problem && problem.field === field ? problem.text : true;
                };
            },
        };
    }

    /* ---- revalidation: credentials loaded as the dialog would, a deleted broker ---- */

    const watched = new Set();
    const loading = new Set();
    let pending = null;

    function revalidate(node) {
        RED.editor.validateNode(node);
        (node.users || []).forEach((user) => RED.editor.validateNode(user));
    }

    /** Loads a config node's credentials the way the edit dialog does (GET credentials/<type>/<id>). */
    function loadCredentials(node) {
        if (loading.has(node.id)) return;
        loading.add(node.id);
        // Quietly (global: false): a user without the permission to read credentials simply gets no check.
        $.ajax({ url: "credentials/" + node.type + "/" + encodeURIComponent(node.id), dataType: "json", timeout: 30000, global: false })
            .done((data) => {
                if (node.credentials || !data || typeof data !== "object") return;
                node.credentials = data;
                node.credentials._ = $.extend(true, {}, data);
                revalidate(node);
                RED.view.redraw(true);
            })
            .always(() => loading.delete(node.id));
    }

    function scan() {
        pending = null;
        RED.nodes.eachConfig((node) => {
            if (!watched.has(node.type)) return;
            if (!node.credentials) loadCredentials(node);
            revalidate(node);
        });
        RED.view.redraw(true);
    }

    function schedule() {
        if (pending === null) pending = setTimeout(scan, 0);
    }

    /** Keeps the nodes of `type` checked as flows load, deploy, and brokers come and go. */
    function watch(type) {
        if (watched.size === 0) {
            RED.events.on("flows:loaded", schedule);
            RED.events.on("deploy", schedule);
            const onNode = (node) => {
                if (node && (node.type === "iot-broker" || watched.has(node.type))) schedule();
            };
            RED.events.on("nodes:add", onNode);
            RED.events.on("nodes:remove", onNode);
        }
        watched.add(type);
        schedule();
    }

    /* ---- dialog parts ---- */

    /**
     * The rows every device dialog starts with, put into its template where it has
     * <div data-iotb-part="head"></div> (name, tabs), <div data-iotb-part="mode"></div> (connection,
     * role sentence, server presets and URL, iot-broker, and `hosting` when asked) and
     * <div data-iotb-part="connect"></div> (where a hosted device connects).
     * Only catalog keys and ids go in, never a value. The editor reads the template at each opening.
     */
    function template(type, options) {
        const key = (k) => type + "." + k;
        const label = (id, icon, i18n) => '<label for="' + id + '"><i class="fa ' + icon + '"></i> <span data-i18n="' + i18n + '"></span></label>';
        const select = (id, icon, k, values) =>
            '<div class="form-row">' + label(id, icon, key(k)) + '<select id="' + id + '" style="width: 70%;">' +
            values.map(([value, text]) => '<option value="' + value + '" data-i18n="' + key(text) + '"></option>').join("") + "</select></div>";
        const parts = {
            head:
                '<div class="form-row">' + label("node-config-input-name", "fa-tag", "node-red:common.label.name") +
                '<input type="text" id="node-config-input-name" data-i18n="[placeholder]node-red:common.label.name"></div>' +
                '<div class="form-row iotb-tabs-row"><ul id="' + type + '-tabs"></ul></div>',
            mode:
                select("node-config-input-connection", "fa-exchange", "label.connection", options.modes.map((m) => [m, "connection." + m])) +
                '<div class="form-row form-tips iotb-role"><i class="fa fa-info-circle"></i><span id="' + type + '-role"></span></div>' +
                '<div class="' + type + '-cloud">' + select(type + "-server-preset", "fa-globe", "label.server", []) +
                '<div class="form-row" id="' + type + '-row-server">' + label("node-config-input-server", "fa-link", key("label.custom-server")) +
                '<input type="text" id="node-config-input-server" style="width: 70%;" autocomplete="off"></div></div>' +
                '<div class="' + type + '-local">' + select("node-config-input-broker", "fa-server", "label.broker", []) +
                '<div class="form-row iotb-hint" id="' + type + '-no-brokers"><i class="fa fa-exclamation-triangle"></i><span data-i18n="' + key("tip.no-brokers") + '"></span></div>' +
                (options.hosting ? select("node-config-input-hosting", "fa-sitemap", "label.hosting", [["device", "hosting.device"], ["fleet", "hosting.fleet"]]) : "") +
                "</div>",
            // Where a hosted device connects (filled in by the dialog).
            connect: '<div class="form-row form-tips iotb-connect" id="' + type + '-connect"><div id="' + type + '-connect-mqtt"></div><div id="' + type + '-connect-http"></div></div>',
        };
        const script = $('script[data-template-name="' + type + '"]');
        script.text(script.text().replace(/<div data-iotb-part="(head|mode|connect)"><\/div>/g, (_all, part) => parts[part]));
    }

    /** Tabs like core's mqtt-broker dialog: `#<prefix>-tabs` above `#<prefix>-tabs-content`. */
    function tabs(prefix, list) {
        const made = RED.tabs.create({
            id: prefix + "-tabs",
            onchange: function (tab) {
                $("#" + prefix + "-tabs-content").children().hide();
                $("#" + tab.id).show();
            },
        });
        list.forEach((tab) => made.addTab(tab));
        setTimeout(() => made.resize(), 0);
        return made;
    }

    function brokerLabel(t, broker) {
        const label = broker.name || t("broker.unnamed", { port: broker.port });
        const flow = RED.nodes.workspace(broker.z);
        return flow && flow.label ? t("broker.in-flow", { label, flow: flow.label }) : label;
    }

    /**
     * Fills #node-config-input-broker with the flows' iot-brokers (a missing one stays, marked), shows
     * `noBrokers` when there is none; returns chooseOnly(): in local mode the only broker is the obvious choice.
     */
    function brokerPicker(node, t, noBrokers) {
        const select = $("#node-config-input-broker").empty();
        const brokers = [];
        RED.nodes.eachNode((n) => {
            if (n.type === "iot-broker") brokers.push(n);
        });
        brokers.sort((a, b) => brokerLabel(t, a).localeCompare(brokerLabel(t, b)));
        $("<option>", { value: "" }).text(t("broker.none")).appendTo(select);
        brokers.forEach((b) => $("<option>", { value: b.id }).text(brokerLabel(t, b)).appendTo(select));
        const current = node.broker || "";
        if (current && !brokers.some((b) => b.id === current)) {
            $("<option>", { value: current }).text(t("broker.missing", { id: current })).appendTo(select);
        }
        select.val(current);
        $(noBrokers).toggle(brokers.length === 0);
        return function chooseOnly() {
            if (!select.val() && brokers.length === 1) select.val(brokers[0].id).trigger("change");
        };
    }

    /** The broker chosen in the dialog, or null. */
    function chosenBroker() {
        const broker = RED.nodes.node($("#node-config-input-broker").val() || "");
        return broker && broker.type === "iot-broker" ? broker : null;
    }

    /** Where devices reach Node-RED as this browser sees it: {host, loopback, http (base URL with httpNodeRoot)}. */
    function reach() {
        const host = window.location.hostname;
        const loopback = host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
        const root = typeof RED.settings.httpNodeRoot === "string" ? RED.settings.httpNodeRoot.replace(/\/+$/, "") : "";
        return { host, loopback, http: window.location.protocol + "//" + window.location.host + root };
    }

    /**
     * The server preset list and the URL field under it. options: {node, t, rules, presets
     * ({mode: [{url, key}]}), preset ($select), server ($input), row ($ the URL row)}. Returns
     * apply(mode): call it on every mode change (it remembers the server chosen per mode).
     */
    function serverPicker(options) {
        const { t, rules, presets, preset, server, row } = options;
        const CUSTOM = "custom";
        const remembered = {};
        let mode = null;
        const showRow = () => row.toggle(preset.val() === CUSTOM);
        preset.on("change", function () {
            const value = preset.val();
            if (value && value !== CUSTOM) server.val(value).trigger("change");
            showRow();
            if (value === CUSTOM) server.trigger("focus");
        });
        server.on("change keyup input", function () {
            if (!presets[mode]) return;
            // Typing a preset URL selects it; anything else is a custom URL.
            const index = lookup().presetIndex(presets, mode, server.val());
            preset.val(index >= 0 ? presets[mode][index].url : CUSTOM);
            showRow();
        });
        if (String(server.val() ?? "") === "" && presets[options.initial]) server.val(presets[options.initial][0].url);
        return function apply(next) {
            if (mode !== null && next !== mode) {
                if (presets[mode]) remembered[mode] = String(server.val() ?? "");
                server.val(lookup().serverForMode(rules, presets, remembered, next, String(server.val() ?? "")));
            }
            mode = next;
            preset.empty();
            if (!presets[next]) return;
            presets[next].forEach((p) => $("<option>", { value: p.url }).text(t(p.key)).appendTo(preset));
            $("<option>", { value: CUSTOM }).text(t("server.custom")).appendTo(preset);
            const index = lookup().presetIndex(presets, next, server.val());
            preset.val(index >= 0 ? presets[next][index].url : CUSTOM);
            server.attr("placeholder", t("placeholder.custom-" + next));
            showRow();
        };
    }

    /** A show/hide button for a password input; returns reveal() (for a value just generated). */
    function secretToggle(input, button, t, showKey, hideKey) {
        const show = (visible) => {
            input.attr("type", visible ? "text" : "password");
            button.find("i").toggleClass("fa-eye", !visible).toggleClass("fa-eye-slash", visible);
            button.attr("title", t(visible ? hideKey : showKey));
        };
        button.on("click", function (evt) {
            evt.preventDefault();
            show(input.attr("type") === "password");
        });
        show(false);
        return () => show(true);
    }

    /** Another config node of `type` with the same newly typed credential (a stored one is unknown here). */
    function sameCredential(node, type, field, value) {
        let other = null;
        RED.nodes.eachConfig((n) => {
            if (other === null && n.type === type && n.id !== node.id && n.credentials && n.credentials[field] === value) other = n;
        });
        return other ? RED.utils.getNodeLabel(other, other.id) : null;
    }

    /** Has the editor check every field of the open dialog again (it does so on any field's change). */
    function recheck() {
        $("#node-config-input-name").trigger("change");
    }

    /** A warning line (an element holding a <span>) showing `text`, hidden for "". */
    function hint(element, text) {
        $(element).find("span").text(text);
        $(element).toggle(text !== "");
    }

    // The "Test connection" button's script, loaded here rather than by a <script> tag in each dialog:
    // a tag whose file is missing (an install without it) stops the editor loading the node sets.
    $.ajax({ url: "resources/" + MODULE + "/test-connection.js", dataType: "script", cache: true, global: false }).fail(() => undefined);

    /** Mounts the "Test connection" button (resources/test-connection.js) when that script is loaded. */
    function mountTestConnection(node, type) {
        const row = $(".iotb-test-connection-row");
        try {
            if (window.IotBridgeTestConnection) window.IotBridgeTestConnection.mount(node, row, type);
        } catch (err) {
            console.warn("IoT Bridge: the Test connection button could not be mounted:", err);
        }
    }

    /**
     * Starts a device dialog (its oneditprepare): from now on its inputs count for the checks, and
     * the tabs `names` ("connection", ...: panes <type>-tab-<name>, labels tabs.<name>) are made.
     * Answers the dialog's translate function.
     */
    function prepare(node, type, names) {
        open.add(node);
        const t = translator(node, type);
        tabs(type, names.map((name) => ({ id: type + "-tab-" + name, label: t("tabs." + name) })));
        return t;
    }

    /** Ends a device dialog: its oneditcancel and oneditdelete, and the last step of its oneditsave. */
    function close() {
        open.delete(this);
    }

    /** The dialogs' shared look, added to the page once. */
    $("<style>").text([
        ".red-ui-editor .iotb-tabs-row ul { min-width: 500px; margin-bottom: 12px; }",
        ".red-ui-editor .iotb-role { display: flex; gap: 8px; align-items: baseline; }",
        ".red-ui-editor .iotb-hint { margin-left: 104px; margin-top: -4px; color: var(--red-ui-text-color-warning, #b36b00); }",
        ".red-ui-editor .iotb-hint > i { margin-right: 4px; }",
        ".red-ui-editor .iotb-secret-row { display: flex; align-items: center; gap: 4px; }",
        ".red-ui-editor .iotb-secret-row > label { flex: 0 0 100px; }",
        ".red-ui-editor .iotb-secret-row > input { flex: 1 1 0; width: auto; min-width: 0; margin-bottom: 0; }",
        ".red-ui-editor .iotb-connect code { white-space: normal; word-break: break-all; }",
        ".red-ui-editor .iotb-connect > div + div { margin-top: 4px; }",
        ".red-ui-editor .iotb-fleet-box .iotb-fleet-table { width: 100%; margin: 4px 0; border-collapse: collapse; }",
        ".red-ui-editor .iotb-fleet-box .iotb-fleet-table th, .red-ui-editor .iotb-fleet-box .iotb-fleet-table td" +
            " { padding: 2px 4px; border-bottom: 1px solid var(--red-ui-secondary-border-color, #ddd); text-align: left; word-break: break-all; }",
        ".red-ui-editor .iotb-fleet-box .iotb-fleet-add, .red-ui-editor .iotb-fleet-box .iotb-fleet-tools { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 4px; }",
        ".red-ui-editor .iotb-fleet-box .iotb-fleet-add input { flex: 1 1 30%; min-width: 0; margin-bottom: 0; }",
        ".red-ui-editor .iotb-fleet-box .iotb-fleet-buttons { white-space: nowrap; }",
        ".red-ui-editor .iotb-section { margin: 12px 0 6px; padding-top: 6px; border-top: 1px solid var(--red-ui-secondary-border-color, #ddd); font-weight: bold; }",
    ].join("\n")).appendTo("head");

    window.IotBridgeEditor = {
        template, translator, editing, setting, credential, validators, watch, prepare, close,
        tabs, brokerPicker, chosenBroker, reach, serverPicker, secretToggle, sameCredential, recheck, hint, mountTestConnection,
    };
})();
