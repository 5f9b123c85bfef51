/*
 * What the flow nodes' edit dialogs share (blynk-write, blynk-device-in, blynk-event,
 * thingsboard-telemetry, -attributes, -rpc, thingspeak-field, iot-history): the device picker's
 * mode, the role sentence, the fleet-device row, name suggestions from the flows, the validators
 * of names, timeouts and intervals, typedInputs (<name> + <name>Type; the runtime reads them in
 * nodes/lib/node-red/typed-setting.ts) and the label helpers. Served by Node-RED at
 * resources/@iot-bridge/node-red/flow-editor.js; defines window.IotBridgeFlowEditor once.
 *
 * The pure functions (validators, parsers, modes) take a translate function t(key, args) of the
 * node's catalog and are also exported to Node.js (module.exports) for test/lib/editor/flow-editor_spec.js.
 */
(function (root) {
    "use strict";

    const MODULE = "@iot-bridge/node-red";
    /** typedInput kinds read for each message (the rest are read once, when the node starts). */
    const PER_MESSAGE = ["msg", "flow", "global"];
    /** What a timer can wait, in ms (setTimeout's limit). */
    const MAX_TIMER_MS = 2147483647;

    // ---------------------------------------------------------------- pure

    /** What is wrong with a Blynk datastream name (the codec's rules), or null. */
    function datastreamProblem(name, t) {
        const text = String(name ?? "");
        // eslint-disable-next-line no-control-regex
        if (/[/+#\u0000-\u001f\u007f]/.test(text)) return t("validation.datastream", { value: text });
        if (new TextEncoder().encode(text).length > 255) return t("validation.datastream-length");
        return null;
    }

    /** What is wrong with a Blynk event code, or null ("" is unset: msg.topic names it). */
    function eventProblem(code, t) {
        const text = String(code ?? "");
        if (text === "") return null;
        if (!/^[A-Za-z0-9_.-]+$/.test(text)) return t("validation.event", { value: text });
        return text.length <= 255 ? null : t("validation.event-length");
    }

    /** What is wrong with a ThingsBoard device name (1 to 255 characters), or null ("" is unset). */
    function subDeviceProblem(name, t) {
        const text = String(name ?? "");
        if (text === "") return null;
        // eslint-disable-next-line no-control-regex
        if (/[\u0000-\u001f\u007f]/.test(text)) return t("validation.sub-device", { value: text });
        if (text.trim() === "") return t("validation.sub-device-blank");
        return text.length <= 255 ? null : t("validation.sub-device-length");
    }

    /** What is wrong with a timeout in ms (whole, 1 to what a timer can wait), or null. */
    function timeoutProblem(value, t) {
        const text = String(value ?? "").trim();
        const ms = Number(text);
        return text !== "" && Number.isInteger(ms) && ms >= 1 && ms <= MAX_TIMER_MS ? null : t("validation.timeout", { value: text });
    }

    /** What is wrong with a period in seconds (empty: the node's default; else 1 to `max`), or null. */
    function secondsProblem(value, max, t) {
        const text = String(value ?? "").trim();
        if (text === "") return null;
        const seconds = Number(text);
        return /^[0-9]+(\.[0-9]+)?$/.test(text) && seconds >= 1 && seconds <= max ? null : t("validation.interval", { value: text, max: max });
    }

    /** What is wrong with a ThingSpeak field (1 to 8, field1 to field8, or empty for all), or null. */
    function fieldProblem(value, t) {
        const text = String(value ?? "").trim();
        return /^((field)?[1-8])?$/i.test(text) ? null : t("validation.field", { value: text });
    }

    /** The names of a "1=Temperature, V2=Humidity" list (pins, field names), by what stands left of "=". */
    function namedEntries(text) {
        const names = {};
        String(text || "")
            .split(/[,;\n]/)
            .forEach((entry) => {
                const eq = entry.indexOf("=");
                if (eq <= 0) return;
                const key = entry.slice(0, eq).trim();
                const name = entry.slice(eq + 1).trim();
                if (key !== "" && name !== "" && names[key] === undefined) names[key] = name;
            });
        return names;
    }

    /** The names a local-mode ThingSpeak channel gives its fields, by field number ("1" ... "8"). */
    function fieldNames(channel) {
        const names = {};
        if (!channel || channel.connection !== "local") return names;
        const all = namedEntries(channel.fieldNames);
        Object.keys(all).forEach((field) => {
            if (/^[1-8]$/.test(field)) names[field] = all[field];
        });
        return names;
    }

    /** A blynk-device's connection: "mqtt", "https", "local", "binary"; null without a device. */
    function blynkMode(device) {
        if (!device) return null;
        return ["https", "local", "binary"].includes(device.connection) ? device.connection : "mqtt";
    }

    /** A thingsboard-device's mode: "mqtt", "mqtt-gateway", "http", "local", "local-gateway"; null without one. */
    function thingsBoardMode(device) {
        if (!device) return null;
        const connection = device.connection === "http" || device.connection === "local" ? device.connection : "mqtt";
        return connection !== "http" && device.gateway === true ? connection + "-gateway" : connection;
    }

    /** A thingspeak-channel's connection: "mqtt", "rest", "local"; null without a channel. */
    function thingSpeakMode(channel) {
        if (!channel) return null;
        return channel.connection === "rest" || channel.connection === "local" ? channel.connection : "mqtt";
    }

    /** Which side Node-RED plays: "cloud" (the device, or its controller), "local" (the server), null (no device). */
    function sideOf(mode) {
        if (!mode) return null;
        return String(mode).startsWith("local") ? "local" : "cloud";
    }

    /** A local-mode config node whose Hosts is "a fleet of devices". */
    function isFleet(device) {
        return Boolean(device && device.connection === "local" && device.hosting === "fleet");
    }

    /**
     * What is wrong with a typedInput setting, or null. `type` is its <name>Type ("" or undefined:
     * `fallback`, a flow from before the typedInput); checks: {fixed(text), property(text), kinds}.
     */
    function typedProblem(value, type, fallback, checks, t) {
        const kind = type || fallback;
        const text = String(value ?? "");
        if (checks.kinds && !checks.kinds.includes(kind)) return t("validation.kind", { kind: kind });
        if (PER_MESSAGE.includes(kind)) return text.trim() === "" ? t("validation.source") : checks.property ? checks.property(text, kind) : null;
        if (kind === "env") return text.trim() === "" ? t("validation.source") : null;
        return checks.fixed ? checks.fixed(text) : null;
    }

    /**
     * Suggestions whose text contains `value` (case-insensitive), sorted, without repeats; each a
     * name or {value, label} (the label is what is shown and searched).
     */
    function matching(list, value) {
        const needle = String(value ?? "").toLowerCase();
        const seen = new Set();
        const text = (item) => String(item && typeof item === "object" ? item.label : item);
        return list
            .filter((item) => {
                const key = item && typeof item === "object" ? item.value : item;
                if (seen.has(key)) return false;
                seen.add(key);
                return text(item).toLowerCase().includes(needle);
            })
            .sort((a, b) => text(a).localeCompare(text(b)));
    }

    const pure = { datastreamProblem, eventProblem, subDeviceProblem, timeoutProblem, secondsProblem, fieldProblem, namedEntries, fieldNames };
    Object.assign(pure, { blynkMode, thingsBoardMode, thingSpeakMode, sideOf, isFleet, typedProblem, matching, PER_MESSAGE });
    if (typeof module === "object" && module && module.exports) module.exports = pure;
    if (!root || typeof root.RED !== "object" || root.IotBridgeFlowEditor) return;

    // ---------------------------------------------------------------- editor (browser)
    const RED = root.RED;
    const $ = root.jQuery;

    /** t(who, key, args) of node type `type`'s catalog; `who` is the node or its definition (or nothing). */
    function translator(type) {
        return function (who, key, args) {
            if (who && typeof who._ === "function") return who._(type + "." + key, args);
            return RED._(MODULE + "/" + type + ":" + type + "." + key, args);
        };
    }

    /** The config node (of `configType`) chosen in the open dialog's `field` picker, else the stored one. */
    function configOf(node, field, configType) {
        const select = $("#node-input-" + field);
        const id = select.length ? select.val() : node && node[field];
        const config = id ? RED.nodes.node(id) : null;
        return config && config.type === configType ? config : null;
    }

    /** The stored config node (of `configType`) of a node on the canvas; null in the palette. */
    function storedConfig(node, field, configType) {
        const config = node && node[field] ? RED.nodes.node(node[field]) : null;
        return config && config.type === configType ? config : null;
    }

    /** Values of `property` that other nodes of `types` using config node `configId` hold (typed values only). */
    function usedValues(node, types, configId, property) {
        const values = [];
        if (!configId) return values;
        RED.nodes.eachNode((n) => {
            const kind = n[property + "Type"] || "str";
            if (n.id !== node.id && types.includes(n.type) && (n.device === configId || n.channel === configId) && n[property] && kind === "str") values.push(String(n[property]));
        });
        return values;
    }

    /** The definition parts every flow node has: italic names, palette and port labels from the catalog. */
    function basics(type, ports) {
        const t = translator(type);
        const portLabel = (key) => function (index) {
            const label = ports && ports[key];
            return t(this, typeof label === "function" ? label.call(this, index) : label || key);
        };
        return {
            labelStyle: function () {
                return this.name ? "node_label_italic" : "";
            },
            paletteLabel: function () {
                return t(this, "paletteLabel");
            },
            inputLabels: portLabel("inputLabels"),
            outputLabels: portLabel("outputLabels"),
        };
    }

    /** A typedInput type for typed text, with name suggestions from `suggest()`. */
    function textType(suggest) {
        // Core's "string" type (its label in the editor's language), plus suggestions.
        const type = { value: "str", label: RED._("typedInput.type.str", { defaultValue: "string" }), icon: "red/images/typedInput/az.svg" };
        if (suggest) type.autoComplete = (value) => matching(suggest(), value);
        return type;
    }

    /**
     * Turns #node-input-<name> into a typedInput whose kind is kept in #node-input-<name>Type.
     * options: {kinds: ["str", "msg", ...], fallback: "str" | "num", suggest(): names for "str"}.
     */
    function typed(name, options) {
        const input = $("#node-input-" + name);
        const typeField = $("#node-input-" + name + "Type");
        if (!typeField.val()) typeField.val(options.fallback || "str");
        input.typedInput({ default: options.fallback || "str", typeField: typeField, types: typesOf(options.kinds, options.suggest) });
        return input;
    }

    function typesOf(kinds, suggest) {
        return kinds.map((kind) => (kind === "str" ? textType(suggest) : kind));
    }

    /** Limits a typedInput to `kinds` (e.g. a mode that reads no message); its value is kept. */
    function limitKinds(name, kinds, suggest) {
        $("#node-input-" + name).typedInput("types", typesOf(kinds, suggest));
    }

    /**
     * The `validate` of a typedInput setting: `fixed(text, t)` checks a typed value; msg/flow/global
     * must be a property Node-RED can read, env a variable name. `kinds(node)` may narrow the kinds.
     */
    function typedValidator(type, name, fallback, fixed, kinds) {
        const t = translator(type);
        return function (v, _opt) {
            const node = this;
            const field = $("#node-input-" + name + "Type");
            const kind = (field.length && field.val()) || node[name + "Type"];
            const tr = (key, args) => t(node, key, args);
            const problem = typedProblem(v, kind, fallback, {
                kinds: kinds ? kinds.call(node) : undefined,
                fixed: (text) => fixed(text, tr),
                property: (text) => {
                    const valid = RED.utils.validatePropertyExpression(text);
                    return valid === true ? null : RED._("validator.errors.invalid-prop");
                },
            }, tr);
            return problem || true;
        };
    }

    /** Shows the fleet-device rows (`selector`) only for a config node hosting a fleet. */
    function fleetRows(selector, device) {
        $(selector).toggle(isFleet(device));
    }

    /** A setting's value when it is typed (str, num, or a flow from before the typedInput); "" when read from elsewhere. */
    function typedText(node, name) {
        const kind = node[name + "Type"];
        return !kind || kind === "str" || kind === "num" ? String(node[name] ?? "").trim() : "";
    }

    /**
     * The label and icon of a node that sends or emits depending on its device's mode: its name,
     * else nodeLabel.<cloud|local>[-named] of its catalog with the typed `setting` as __name__.
     * options: {configType, mode(config) -> mode, setting, icons: {cloud, local}, icon (no device, the palette)}.
     */
    function directional(type, options) {
        const t = translator(type);
        const side = (node) => sideOf(options.mode(storedConfig(node, "device", options.configType)));
        return {
            icon: function () {
                // The palette asks with no node.
                return options.icons[side(this)] || options.icon;
            },
            label: function () {
                const where = side(this);
                const value = typedText(this, options.setting);
                if (this.name) return this.name;
                if (!where) return value || t(this, "paletteLabel");
                return value ? t(this, "nodeLabel." + where + "-named", { name: value }) : t(this, "nodeLabel." + where);
            },
        };
    }

    /** The ThingsBoard flow nodes, which share sub-device names. */
    const TB_TYPES = ["thingsboard-telemetry", "thingsboard-attributes", "thingsboard-rpc"];

    /** The Sub-device typedInput of a ThingsBoard flow node, suggesting the names other nodes use with the device. */
    function typedSubDevice(node, device) {
        return typed("subDevice", {
            kinds: ["str", "msg", "flow", "global", "env"],
            suggest: () => {
                const chosen = device();
                return chosen ? usedValues(node, TB_TYPES, chosen.id, "subDevice") : [];
            },
        });
    }

    /** The sub-device tip for ThingsBoard mode `mode`, and the hint that a device that is no gateway ignores it. */
    function subDeviceTips(type, node, mode) {
        const t = translator(type);
        const gateway = mode !== null && mode.endsWith("-gateway");
        $("#" + type + "-tip-sub-device").text(t(node, gateway ? "tip.sub-device-" + mode : "tip.sub-device"));
        const value = String($("#node-input-subDevice").typedInput("value") ?? "").trim();
        $("#" + type + "-sub-device-hint").toggle(mode !== null && !gateway && value !== "");
    }

    // The dialogs' shared look: the role sentence beside its icon, tips and warnings under a field.
    $("<style>")
        .attr("id", "iotb-flow-editor-style")
        .text(
            ".iotb-flow-role { display: flex; gap: 8px; align-items: baseline; }" +
                ".iotb-flow-tips { margin-left: 104px; margin-top: -4px; }" +
                ".iotb-flow-hint { margin-left: 104px; margin-top: -4px; color: var(--red-ui-text-color-warning, #b36b00); }" +
                ".iotb-flow-hint > i { margin-right: 4px; }" +
                ".red-ui-editor .iotb-flow-nowrap { white-space: nowrap; }",
        )
        .appendTo("head");

    root.IotBridgeFlowEditor = Object.assign({}, pure, { typedText, directional, typedSubDevice, subDeviceTips, translator, configOf, storedConfig });
    Object.assign(root.IotBridgeFlowEditor, { usedValues, basics, typed, limitKinds, typedValidator, fleetRows });
})(typeof window === "undefined" ? undefined : window);
