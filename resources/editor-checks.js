/*
 * The pure checks of the config dialogs (blynk-device, thingsboard-device, thingspeak-channel,
 * iot-broker): server URLs and presets, ports and numbers, pin and field maps, random secrets, and
 * the credentials a mode needs. No DOM, no RED: each takes `t(key, args)`, which translates a key
 * of the node's own catalog ("validation.server-invalid" -> blynk-device.validation.server-invalid),
 * and answers the translated problem or null. Served at resources/@iot-bridge/node-red/editor-checks.js
 * as window.IotBridgeEditorChecks; mocha loads the same file through module.exports
 * (test/lib/editor/). The rules follow the runtime's (nodes/lib/<platform>/link-config.ts).
 */
(function (root) {
    "use strict";

    /** URL schemes MQTT.js takes (tcp: and ssl: are its aliases of mqtt: and mqtts:). */
    const MQTT_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:", "tcp:", "ssl:"];
    const HTTP_SCHEMES = ["https:", "http:"];
    /** What the password inputs of the editor hold for a stored secret it does not show. */
    const STORED_SECRET = "__PWRD__";

    const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const LETTERS_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    function text(value) {
        return String(value ?? "").trim();
    }

    function parseUrl(value) {
        try {
            return new URL(text(value));
        } catch (_err) {
            return null;
        }
    }

    /**
     * Why `server` cannot be used in `mode`, or null. rules: {schemes: {mode: [scheme]},
     * noQuery: [mode] (no ? or #), originOnly: [mode] (no path either)}. Empty is the mode's
     * default server to the runtime; a URL never carries credentials (they are shown and exported).
     */
    function serverProblem(t, rules, mode, server) {
        const schemes = rules.schemes[mode];
        if (!schemes) return null;
        const value = text(server);
        if (value === "") return null;
        const url = parseUrl(value);
        if (!url) {
            return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? t("validation.server-invalid", { value }) : t("validation.server-scheme-" + mode, { value });
        }
        if (!schemes.includes(url.protocol)) return t("validation.server-scheme-" + mode, { value });
        if (!url.hostname) return t("validation.server-invalid", { value });
        if (url.username || url.password) return t("validation.server-credentials");
        if ((rules.originOnly || []).includes(mode) && (url.search || url.hash || url.pathname.replace(/\/+$/, "") !== "")) {
            return t("validation.server-path", { value });
        }
        if ((rules.noQuery || []).includes(mode) && (url.search || url.hash)) return t("validation.server-query", { value });
        return null;
    }

    /** Index of `server` among `presets[mode]` ([{url, key}]), or -1. */
    function presetIndex(presets, mode, server) {
        const value = text(server);
        return (presets[mode] || []).findIndex((p) => p.url === value);
    }

    /**
     * The server after switching to `mode`: the one last chosen there in this edit (`remembered`),
     * else the preset of `mode` on the same cloud host, else the old URL when `mode` takes its
     * scheme and it is no cloud host, else the mode's first preset.
     */
    function serverForMode(rules, presets, remembered, mode, server) {
        if (!presets[mode]) return server;
        if (remembered[mode] !== undefined) return remembered[mode];
        const url = parseUrl(server);
        const hostOf = (p) => (parseUrl(p.url) || { hostname: "" }).hostname;
        const cloud = url && Object.keys(presets).some((m) => presets[m].some((p) => hostOf(p) === url.hostname));
        if (cloud) {
            const same = presets[mode].find((p) => hostOf(p) === url.hostname);
            return same ? same.url : presets[mode][0].url;
        }
        if (url && rules.schemes[mode].includes(url.protocol)) return server;
        return presets[mode][0].url;
    }

    function isPort(value) {
        const port = text(value);
        return /^[0-9]+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
    }

    /** Whether `value` is blank or a whole number from min to max. */
    function isWholeNumber(value, min, max) {
        const n = text(value);
        return n === "" || (/^[0-9]+$/.test(n) && Number(n) >= min && Number(n) <= max);
    }

    function isTimeZone(zone) {
        try {
            new Intl.DateTimeFormat("en-US", { timeZone: zone });
            return true;
        } catch (_err) {
            return false;
        }
    }

    /** "a/#, b/+/c" -> ["a/#", "b/+/c"]; empty parts are dropped. */
    function splitFilters(value) {
        return String(value ?? "")
            .split(",")
            .map((part) => part.trim())
            .filter((part) => part.length > 0);
    }

    /**
     * What is wrong with one MQTT topic filter (MQTT 3.1.1 section 4.7, the same in 5), as the key
     * of its message ("filter-hash", "filter-plus", "filter-nul", "filter-internal"), or null.
     * `internal` is the prefix of the hosted devices' topics, which no user can be granted.
     */
    function filterProblem(filter, internal) {
        const levels = filter.split("/");
        for (let i = 0; i < levels.length; i++) {
            if (levels[i].includes("#") && (levels[i] !== "#" || i !== levels.length - 1)) return "filter-hash";
            if (levels[i].includes("+") && levels[i] !== "+") return "filter-plus";
        }
        if (filter.includes("\u0000")) return "filter-nul";
        return internal && filter.startsWith(internal) ? "filter-internal" : null;
    }

    /** "a=b, c=d" (commas, semicolons or line breaks) -> [{entry, key, name}]; name is "" when there is no "=". */
    function assignments(value) {
        return String(value ?? "")
            .split(/[,;\n]/)
            .map((entry) => entry.trim())
            .filter((entry) => entry.length > 0)
            .map((entry) => {
                const eq = entry.indexOf("=");
                return { entry, key: eq < 0 ? "" : entry.slice(0, eq).trim(), name: eq < 0 ? "" : entry.slice(eq + 1).trim() };
            });
    }

    /** Blynk's "V1=Temperature, V2=Humidity" -> problems (empty when valid). */
    function pinsProblems(t, value) {
        const problems = [];
        const pins = new Set();
        const names = new Set();
        assignments(value).forEach(({ entry, key, name }) => {
            if (name === "") return problems.push(t("validation.pins-entry", { entry }));
            const match = /^[vV](0|[1-9][0-9]{0,2})$/.exec(key);
            if (!match || Number(match[1]) > 255) {
                problems.push(t("validation.pins-pin", { pin: key }));
            } else {
                if (pins.has("V" + match[1])) problems.push(t("validation.pins-duplicate-pin", { pin: "V" + match[1] }));
                pins.add("V" + match[1]);
            }
            // eslint-disable-next-line no-control-regex
            if (/[/+#\u0000-\u001f\u007f]/.test(name)) {
                problems.push(t("validation.pins-name", { name }));
            } else {
                if (names.has(name)) problems.push(t("validation.pins-duplicate-name", { name }));
                names.add(name);
            }
        });
        return problems;
    }

    /** ThingSpeak's "1=Temperature, 2=Humidity" -> problems (empty when valid). */
    function fieldNamesProblems(t, value) {
        const problems = [];
        const fields = new Set();
        assignments(value).forEach(({ entry, key, name }) => {
            if (name === "") return problems.push(t("validation.field-names-entry", { entry }));
            if (!/^[1-8]$/.test(key)) {
                problems.push(t("validation.field-names-field", { field: key }));
            } else {
                if (fields.has(key)) problems.push(t("validation.field-names-duplicate", { field: key }));
                fields.add(key);
            }
            // eslint-disable-next-line no-control-regex
            if (/[\u0000-\u001f\u007f]/.test(name) || name.length > 255) problems.push(t("validation.field-names-name", { name }));
        });
        return problems;
    }

    /** A ThingSpeak channel id: a positive whole number. */
    function channelIdProblem(t, value) {
        const id = text(value);
        if (id === "") return t("validation.channel-id-missing");
        return /^[1-9][0-9]*$/.test(id) && Number.isSafeInteger(Number(id)) ? null : t("validation.channel-id", { value: id });
    }

    /** Seconds from 1 to `max`. */
    function intervalProblem(t, value, max) {
        const seconds = text(value);
        const n = Number(seconds);
        return /^[0-9]+(\.[0-9]+)?$/.test(seconds) && n >= 1 && n <= max ? null : t("validation.update-interval", { value: seconds, max });
    }

    /**
     * `length` characters of `alphabet`, uniformly (rejection sampling: bytes at or above the largest
     * multiple of the alphabet's size are drawn again). `fill(bytes)` fills a Uint8Array with random bytes.
     */
    function randomText(alphabet, length, fill) {
        const random = fill || ((bytes) => globalThis.crypto.getRandomValues(bytes));
        const limit = 256 - (256 % alphabet.length);
        let out = "";
        const bytes = new Uint8Array(length * 2);
        while (out.length < length) {
            random(bytes);
            for (let i = 0; i < bytes.length && out.length < length; i++) {
                if (bytes[i] < limit) out += alphabet[bytes[i] % alphabet.length];
            }
        }
        return out;
    }

    /**
     * What the dialog may say about a Blynk token being typed (a hint, not a refusal): spaces (removed
     * on save), or a length other than Blynk's 32. "" for none.
     */
    function blynkTokenHint(t, token) {
        const value = String(token ?? "");
        if (value === "" || value === STORED_SECRET) return "";
        if (/\s/.test(value)) return t("tip.token-spaces");
        return value.length === 32 ? "" : t("tip.token-length", { length: value.length });
    }

    /** The same for a ThingsBoard token: spaces around or inside, URL characters outside mqtt mode. */
    function thingsboardTokenHint(t, token, mode) {
        const value = String(token ?? "");
        if (value === "" || value === STORED_SECRET) return "";
        if (value.trim() !== value) return t("tip.token-spaces");
        if (/\s/.test(value)) return t("tip.token-inner-spaces");
        return mode !== "mqtt" && /[/?#%]/.test(value) ? t("tip.token-url") : "";
    }

    /**
     * The credentials the mode needs and whether they can be used, as the runtime decides at deploy:
     * the first problem as {field, text}, or null. `props` are the node's settings (the mode in
     * props.connection); `cred(field)` answers {set: true|false|null (unknown), value: text or null
     * (hidden)}. An unknown credential (not loaded yet) is no problem here: the runtime will tell.
     */
    function credentialsProblem(t, type, props, cred) {
        const mode = props.connection;
        const fleet = mode === "local" && props.hosting === "fleet";
        const missing = (f) => cred(f).set === false;
        // As the dialogs save them: Blynk and ThingSpeak drop every space, ThingsBoard the outer ones.
        const saved = (value) => (type === "thingsboard-device" ? value.trim() : value.replace(/\s+/g, ""));
        const malformed = (f, re) => typeof cred(f).value === "string" && re.test(saved(cred(f).value));
        const problem = (field, key, args) => ({ field, text: t(key, args) });
        // eslint-disable-next-line no-control-regex
        const SPACES = /[\s\u0000-\u001f\u007f]/;
        if (type === "blynk-device") {
            if (fleet) return null;
            if (missing("token")) return problem("token", mode === "local" ? "validation.token-missing-local" : "validation.token-missing");
            // eslint-disable-next-line no-control-regex
            return malformed("token", /[\s\u0000-\u001f\u007f/?#&]/) ? problem("token", "validation.token-invalid") : null;
        }
        if (type === "thingsboard-device") {
            const provision = props.provision === true || props.provision === "true";
            const provisionProblem = () => {
                if (text(props.provisionKey) === "") return problem("provisionKey", "validation.provision-key-missing");
                return missing("provisionSecret") ? problem("provisionSecret", "validation.provision-secret-missing") : null;
            };
            if (fleet) return provision ? provisionProblem() : null;
            if (props.auth === "basic" && mode !== "http") {
                const has = (f) => !missing(f);
                if (has("password") && !has("username")) return problem("username", "tip.basic-password-alone");
                if (!has("clientId") && !(has("username") && has("password"))) return problem("clientId", "tip.basic-incomplete");
            } else if (missing("token")) {
                if (mode === "mqtt" && provision) return text(props.name) === "" ? problem("token", "validation.provision-name-missing") : provisionProblem();
                return problem("token", mode === "local" ? "validation.token-missing-local" : "validation.token-missing");
            }
            return malformed("token", SPACES) ? problem("token", "validation.token-invalid") : null;
        }
        if (type === "thingspeak-channel") {
            // clientId -> the label key "label.client-id"
            const label = (f) => t("label." + f.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()));
            if (mode !== "rest") {
                const absent = ["clientId", "username", "password"].filter(missing);
                if (absent.length > 0) return problem(absent[0], "validation.mqtt-credentials-missing", { missing: absent.map(label).join(", ") });
            }
            const spaced = ["clientId", "username", "password", "writeKey", "readKey"].find((f) => malformed(f, SPACES));
            return spaced ? problem(spaced, "validation.credential-spaces", { field: label(spaced) }) : null;
        }
        return null;
    }

    /** Local mode names an iot-broker that exists: `lookup(id)` is the editor's node, or null. */
    function brokerProblem(t, mode, id, lookup) {
        if (mode !== "local") return null;
        const broker = text(id);
        if (broker === "") return t("validation.broker-missing");
        const node = lookup(broker);
        return node && node.type === "iot-broker" ? null : t("validation.broker-not-found", { id: broker });
    }

    const CHECKS = {
        MQTT_SCHEMES, HTTP_SCHEMES, STORED_SECRET, BASE64URL, LETTERS_DIGITS, UPPER_DIGITS,
        parseUrl, serverProblem, presetIndex, serverForMode, isPort, isWholeNumber, isTimeZone, assignments, splitFilters, filterProblem,
        pinsProblems, fieldNamesProblems, channelIdProblem, intervalProblem, randomText,
        blynkTokenHint, thingsboardTokenHint, credentialsProblem, brokerProblem,
    };
    if (typeof module === "object" && module && module.exports) module.exports = CHECKS;
    if (root && !root.IotBridgeEditorChecks) root.IotBridgeEditorChecks = CHECKS;
})(typeof window === "undefined" ? null : window);
