/**
 * The pure half of the "IoT devices" sidebar (resources/devices-sidebar.js draws it): the
 * sparkline's path, "last seen" words, the connection settings a firmware needs, and how a comms
 * update changes the sidebar's state. Browser: window.IotBridgeDevicesView; mocha: module.exports.
 * Every word comes from `t(key, args)` (the plugin's catalog).
 */
(function (root) {
  "use strict";

  /** The SVG path of a sparkline through `points` in a `width` x `height` box (2 px margin); "" for fewer than 2 points. */
  function sparklinePath(points, width, height) {
    var numbers = (Array.isArray(points) ? points : []).filter(function (n) { return typeof n === "number" && isFinite(n); });
    if (numbers.length < 2) return "";
    var min = Math.min.apply(null, numbers);
    var max = Math.max.apply(null, numbers);
    var span = max - min;
    var step = (width - 4) / (numbers.length - 1);
    return numbers.map(function (n, i) {
      var x = 2 + i * step;
      // A flat line sits in the middle.
      var y = span === 0 ? height / 2 : 2 + (height - 4) * (1 - (n - min) / span);
      return (i === 0 ? "M" : "L") + x.toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
  }

  /** "just now", "5 s ago", "3 min ago", "2 h ago", "4 d ago". */
  function ago(at, now, t) {
    var s = Math.max(0, Math.round((now - at) / 1000));
    if (s < 5) return t("ago.now");
    if (s < 60) return t("ago.seconds", { count: s });
    if (s < 3600) return t("ago.minutes", { count: Math.floor(s / 60) });
    if (s < 86400) return t("ago.hours", { count: Math.floor(s / 3600) });
    return t("ago.days", { count: Math.floor(s / 86400) });
  }

  /** The host a device should connect to: the broker's bind address, or the editor's host when it binds every address. */
  function hostOf(listener, editorHost) {
    var host = listener && listener.host;
    return !host || host === "0.0.0.0" || host === "::" ? editorHost : host;
  }

  var PORT_KEYS = { tcp: "settings.port-mqtt", tls: "settings.port-mqtts", ws: "settings.port-ws" };

  /**
   * The lines (label, value) a firmware needs to reach `device` on `broker`: server and ports,
   * then the platform's credential names with `credentials` (fetched with the write permission)
   * and topics. `config`: the device's config node (ThingSpeak's channel id).
   */
  function connectionSettings(device, broker, credentials, config, editorHost, t) {
    var lines = [];
    var listeners = (broker && broker.listeners) || [];
    var first = listeners.filter(function (l) { return l.kind !== "ws-attach"; })[0];
    lines.push([t("settings.server"), hostOf(first, editorHost)]);
    listeners.forEach(function (l) {
      if (l.protocol === "blynk") {
        if (device.platform === "blynk") lines.push([t(l.kind === "tls" ? "settings.port-blynk-tls" : "settings.port-blynk"), String(l.port)]);
      } else if (l.kind === "ws-attach") {
        lines.push([t("settings.path-ws"), String(l.path)]);
      } else if (PORT_KEYS[l.kind]) {
        lines.push([t(PORT_KEYS[l.kind]), String(l.port)]);
      }
    });
    var c = credentials || {};
    if (device.platform === "blynk") {
      lines.push([t("settings.username"), "device"]);
      lines.push([t("settings.token"), c.token || ""]);
      lines.push([t("settings.publish"), "ds/<datastream>"]);
      lines.push([t("settings.subscribe"), "downlink/#"]);
    } else if (device.platform === "thingsboard") {
      lines.push([t("settings.tb-token"), c.token || ""]);
      if (c.username) {
        lines.push([t("settings.client-id"), c.clientId || ""]);
        lines.push([t("settings.username"), c.username]);
        lines.push([t("settings.password"), c.password || ""]);
      }
      lines.push([t("settings.publish"), "v1/devices/me/telemetry"]);
      lines.push([t("settings.subscribe"), "v1/devices/me/attributes, v1/devices/me/rpc/request/+"]);
    } else {
      var channel = (config && config.channelId) || "<channel id>";
      lines.push([t("settings.client-id"), c.clientId || ""]);
      lines.push([t("settings.username"), c.username || ""]);
      lines.push([t("settings.password"), c.password || ""]);
      if (c.writeKey) lines.push([t("settings.write-key"), c.writeKey]);
      lines.push([t("settings.publish"), "channels/" + channel + "/publish"]);
    }
    return lines;
  }

  /** The lines as text to copy: "Label: value" per line. */
  function settingsText(lines) {
    return lines.map(function (l) { return l[0] + ": " + l[1]; }).join("\n");
  }

  /**
   * The state after a comms update: changed brokers and devices replace theirs (a device not in
   * the state is added); returns "resync" when the sidebar must fetch the snapshot again.
   */
  function applyUpdate(state, update) {
    if (!state || !update || update.resync) return "resync";
    (update.brokers || []).forEach(function (b) {
      var i = state.brokers.findIndex(function (x) { return x.id === b.id; });
      if (i < 0) state.brokers.push(b); else state.brokers[i] = b;
    });
    (update.devices || []).forEach(function (d) {
      var i = state.devices.findIndex(function (x) { return x.key === d.key; });
      if (i < 0) state.devices.push(d); else state.devices[i] = d;
    });
    return "applied";
  }

  /** The devices whose name, platform, fleet or id contains `filter` (any case), at most `max`, and how many more. */
  function filterDevices(devices, filter, fleets, max) {
    var f = String(filter || "").trim().toLowerCase();
    var fleetName = {};
    (fleets || []).forEach(function (fl) { fleetName[fl.id] = fl.name; });
    var matching = devices.filter(function (d) {
      if (f === "") return true;
      return [d.name, d.platform, d.id, fleetName[d.fleet] || ""].some(function (s) { return String(s).toLowerCase().indexOf(f) >= 0; });
    });
    return { shown: matching.slice(0, max), more: Math.max(0, matching.length - max) };
  }

  var api = { sparklinePath: sparklinePath, ago: ago, hostOf: hostOf, connectionSettings: connectionSettings, settingsText: settingsText, applyUpdate: applyUpdate, filterDevices: filterDevices };
  if (root && !root.IotBridgeDevicesView) root.IotBridgeDevicesView = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : undefined);
