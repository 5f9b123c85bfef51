/**
 * The editor's "IoT devices" sidebar tab (plugin iot-bridge-devices): brokers with their
 * listeners, clients and refused logins (adopt one into a fleet), fleets, and every hosted device
 * with its state and sparklines. Loads the snapshot (GET iot-bridge/devices) when first shown,
 * then applies the runtime's comms updates (topic iot-bridge/devices). Everything shown is set
 * as text; pure helpers are in resources/devices-view.js. window.IotBridgeDevices.mount(RED).
 */
(function () {
  "use strict";
  if (window.IotBridgeDevices) return;
  var NS = "@iot-bridge/node-red/iot-bridge-devices";
  var URL = "iot-bridge/devices";
  var TAB = "iot-bridge-devices";
  var MAX_SHOWN = 200;
  var SPARK = { width: 80, height: 18 };

  var mounted = false;

  function mount(RED) {
    // A second onadd (the plugin added again) would add a second tab and timer.
    if (mounted) return;
    mounted = true;
    var V = window.IotBridgeDevicesView;
    var t = function (key, args) { return RED._(NS + ":" + key, args); };
    var state = null;
    var loading = false;
    /** A resync that came while a GET was in flight: that snapshot may predate it, so ask again. */
    var again = false;
    var filter = "";
    /** The open adopt form ({broker, login, fleet, name}) and the shown connection settings ({key, text}). */
    var adoptDraft = null;
    var settings = null;

    var content = $('<div id="iot-bridge-devices-content" class="iot-bridge-devices">').css({ height: "100%", overflowY: "auto", padding: "8px" });
    var bar = $("<div>").css({ display: "flex", gap: "4px", marginBottom: "8px" }).appendTo(content);
    $('<input type="text" id="iot-bridge-devices-filter">').attr("placeholder", t("devices.filter")).css({ flex: "1" })
      .on("input", function () { filter = $(this).val(); render(); }).appendTo(bar);
    $('<button type="button" class="red-ui-button" id="iot-bridge-devices-refresh"><i class="fa fa-refresh"></i></button>')
      .attr("title", t("actions.refresh")).on("click", function () { load(); }).appendTo(bar);
    var body = $('<div class="iot-bridge-devices-body">').appendTo(content);

    RED.sidebar.addTab({
      id: TAB, label: t("sidebar.label"), name: t("sidebar.name"), iconClass: "fa fa-microchip",
      content: content, enableOnEdit: true, action: "iot-bridge-devices:show-devices-tab",
      onchange: function () { if (state === null) load(); },
      onremove: unmount,
    });
    RED.actions.add("iot-bridge-devices:show-devices-tab", function () { RED.sidebar.show(TAB); });
    var onUpdate = function (_topic, update) {
      if (state === null) return; // not loaded yet: the snapshot will have it
      if (V.applyUpdate(state, update) === "resync") load(); else render();
    };
    RED.comms.subscribe("iot-bridge/devices", onUpdate);
    // Seconds-old "last seen" words age without updates.
    var ticker = setInterval(function () { if (state !== null && content.is(":visible")) render(); }, 10000);

    function unmount() {
      clearInterval(ticker);
      RED.comms.unsubscribe("iot-bridge/devices", onUpdate);
      mounted = false;
    }

    function load() {
      if (loading) { again = true; return; }
      loading = true;
      again = false;
      $.ajax({ url: URL, dataType: "json", cache: false })
        .done(function (snapshot) { state = snapshot; render(); })
        .fail(function (xhr) { body.empty().append($('<div class="iot-bridge-devices-error">').text(t("errors.load", { error: errorOf(xhr) }))); })
        .always(function () {
          loading = false;
          if (again) load();
        });
    }

    /**
     * RED.notify sets a string as HTML and the editor's i18next does not escape values (a
     * refused login's client id, a server's error text): it gets an element holding text.
     */
    function notify(text, type) {
      RED.notify($("<p>").text(text), type);
    }

    function post(action, data) {
      return $.ajax({ url: URL + "/" + action, type: "POST", contentType: "application/json", data: JSON.stringify(data), dataType: "json" })
        .fail(function (xhr) { notify(t("errors.action", { error: errorOf(xhr) }), "error"); });
    }

    function errorOf(xhr) {
      return (xhr && xhr.responseJSON && xhr.responseJSON.error) || (xhr && xhr.statusText) || "?";
    }

    function section(title) {
      var s = $('<div class="iot-bridge-devices-section">').css({ marginBottom: "12px" }).appendTo(body);
      $("<h4>").css({ margin: "4px 0" }).text(title).appendTo(s);
      return s;
    }

    function button(icon, title, cls, onClick) {
      return $('<button type="button" class="red-ui-button red-ui-button-small">').addClass(cls).attr("title", title)
        .append($("<i>").addClass("fa " + icon)).on("click", onClick);
    }

    function render() {
      if (state === null) return;
      // Updates come while the user types in the adopt form: its focus and caret survive them.
      var focused = document.activeElement;
      var keep = focused && $.contains(body[0], focused) && typeof focused.className === "string" && focused.className ? { cls: focused.className.split(" ")[0], at: focused.selectionStart } : null;
      body.empty();
      draw();
      if (keep) {
        var again = body.find("." + keep.cls).first();
        again.trigger("focus");
        if (typeof keep.at === "number" && again[0] && again[0].setSelectionRange) again[0].setSelectionRange(keep.at, keep.at);
      }
    }

    function draw() {
      var now = Date.now();
      var brokers = section(t("brokers.title"));
      if (state.brokers.length === 0) $("<div>").text(t("brokers.none")).appendTo(brokers);
      state.brokers.forEach(function (b) { renderBroker(brokers, b, now); });
      if (state.fleets.length > 0) {
        var fleets = section(t("fleets.title"));
        state.fleets.forEach(function (f) {
          $('<div class="iot-bridge-devices-fleet">').attr("data-id", f.id)
            .text(f.name + " (" + f.platform + ") · " + t("fleets.devices", { count: f.devices }) + (f.available ? "" : " · " + t("fleets.stopped"))).appendTo(fleets);
        });
      }
      var devices = section(t("devices.title"));
      var picked = V.filterDevices(state.devices, filter, state.fleets, MAX_SHOWN);
      if (state.devices.length === 0) $("<div>").text(t("devices.none")).appendTo(devices);
      picked.shown.forEach(function (d) { renderDevice(devices, d, now); });
      if (picked.more > 0) $("<div>").text(t("devices.more", { count: picked.more })).appendTo(devices);
    }

    function renderBroker(parent, b, now) {
      var box = $('<div class="iot-bridge-devices-broker">').attr("data-id", b.id).css({ marginBottom: "8px" }).appendTo(parent);
      var head = $("<div>").appendTo(box);
      $("<b>").text(b.name).appendTo(head);
      $('<span class="iot-bridge-devices-state">').css({ marginLeft: "6px" }).text(t(b.running ? "brokers.running" : "brokers.stopped")).appendTo(head);
      b.listeners.forEach(function (l) {
        var where = l.kind === "ws-attach" ? l.path : (l.host || "") + ":" + l.port;
        $('<div class="iot-bridge-devices-listener">').text(l.kind + " " + where + (l.protocol ? " (" + l.protocol + ")" : "")).appendTo(box);
      });
      if (b.running) $("<div>").text(t("brokers.clients", { count: b.clientCount })).appendTo(box);
      b.clients.forEach(function (c) {
        var row = $('<div class="iot-bridge-devices-client">').attr("data-client", c.clientId).appendTo(box);
        $("<span>").text(c.clientId + " · " + (c.address || "?") + " · " + c.protocol + " ").appendTo(row);
        button("fa-times", t("actions.disconnect"), "iot-bridge-devices-disconnect", function () {
          post("disconnect", { broker: b.id, clientId: c.clientId });
        }).appendTo(row);
      });
      if (b.refused.length > 0) {
        $("<div>").css({ marginTop: "4px" }).text(t("refused.title")).appendTo(box);
        b.refused.forEach(function (r) { renderRefused(box, b, r, now); });
      }
    }

    function renderRefused(parent, b, r, now) {
      var row = $('<div class="iot-bridge-devices-refused">').attr("data-login", r.id).appendTo(parent);
      $("<span>").text(r.platform + " · " + r.clientId + " · " + (r.remoteAddress || "?") + " · " + V.ago(r.lastAt, now, t) + " · " + t("refused.times", { count: r.count }) + " ").appendTo(row);
      button("fa-plus", t("refused.adopt"), "iot-bridge-devices-adopt", function () {
        adoptDraft = { broker: b.id, login: r.id, fleet: "", name: r.clientId };
        render();
      }).appendTo(row);
      button("fa-trash", t("refused.dismiss"), "iot-bridge-devices-dismiss", function () {
        post("forget", { broker: b.id, login: r.id });
      }).appendTo(row);
      if (adoptDraft && adoptDraft.login === r.id) renderAdopt(row, b, r);
    }

    function renderAdopt(parent, b, r) {
      var fleets = state.fleets.filter(function (f) { return f.broker === b.id && f.platform === r.platform; });
      var form = $('<div class="iot-bridge-devices-adopt-form">').css({ margin: "4px 0 4px 12px" }).appendTo(parent);
      if (fleets.length === 0) {
        $("<div>").text(t("refused.no-fleet", { platform: r.platform })).appendTo(form);
        return;
      }
      if (!fleets.some(function (f) { return f.id === adoptDraft.fleet; })) adoptDraft.fleet = fleets[0].id;
      var select = $('<select class="iot-bridge-devices-adopt-fleet">').on("change", function () { adoptDraft.fleet = $(this).val(); });
      fleets.forEach(function (f) { $("<option>").val(f.id).text(f.name).appendTo(select); });
      select.val(adoptDraft.fleet);
      $("<label>").text(t("refused.fleet") + " ").append(select).appendTo(form);
      var name = $('<input type="text" class="iot-bridge-devices-adopt-name">').val(adoptDraft.name).on("input", function () { adoptDraft.name = $(this).val(); });
      $("<label>").css({ display: "block" }).text(t("refused.name") + " ").append(name).appendTo(form);
      $('<button type="button" class="red-ui-button iot-bridge-devices-adopt-confirm">').text(t("refused.confirm")).on("click", function () {
        var draft = adoptDraft;
        post("adopt", draft).done(function (answer) {
          adoptDraft = null;
          notify(t("refused.adopted", { name: (answer.device && answer.device.name) || draft.name }), "success");
          load();
        });
      }).appendTo(form);
      $('<button type="button" class="red-ui-button">').css({ marginLeft: "4px" }).text(t("refused.cancel")).on("click", function () { adoptDraft = null; render(); }).appendTo(form);
    }

    function renderDevice(parent, d, now) {
      var box = $('<div class="iot-bridge-devices-device">').attr("data-key", d.key).attr("data-online", d.online ? "true" : "false")
        .css({ borderTop: "1px solid var(--red-ui-secondary-border-color, #ddd)", padding: "4px 0" }).appendTo(parent);
      var head = $("<div>").appendTo(box);
      $("<i>").addClass("fa fa-circle").css({ color: d.online ? "#5a8" : "#aaa", marginRight: "4px" }).attr("title", t(d.online ? "devices.online" : "devices.offline")).appendTo(head);
      $('<b class="iot-bridge-devices-name">').text(d.name).appendTo(head);
      var fleet = state.fleets.find(function (f) { return f.id === d.fleet; });
      $("<span>").css({ marginLeft: "6px", opacity: 0.7 }).text(d.platform + (fleet ? " · " + t("devices.fleet", { name: fleet.name }) : "")).appendTo(head);
      var tools = $("<span>").css({ float: "right" }).appendTo(head);
      button("fa-clipboard", t("actions.copy"), "iot-bridge-devices-copy", function () {
        // A second click hides the settings (they hold the token).
        if (settings && settings.key === d.key) { settings = null; render(); } else copySettings(d, this);
      }).appendTo(tools);
      button("fa-pencil", t("actions.open"), "iot-bridge-devices-open", function () {
        var config = RED.nodes.node(d.config);
        if (config) RED.editor.editConfig("", config.type, config.id);
      }).appendTo(tools);
      var info = [d.online ? t("devices.online") : d.lastSeen ? t("devices.last-seen", { ago: V.ago(d.lastSeen, now, t) }) : t("devices.never")];
      if (d.firmware) info.push(t("devices.firmware", { version: d.firmware }));
      $('<div class="iot-bridge-devices-info">').css({ opacity: 0.8 }).text(info.join(" · ")).appendTo(box);
      d.values.forEach(function (v) {
        var row = $('<div class="iot-bridge-devices-value">').attr("data-name", v.name).css({ display: "flex", alignItems: "center", gap: "6px" }).appendTo(box);
        $("<span>").css({ minWidth: "80px" }).text(v.name).appendTo(row);
        $('<span class="iot-bridge-devices-text">').css({ fontFamily: "monospace" }).text(v.value).appendTo(row);
        var path = V.sparklinePath(v.spark, SPARK.width, SPARK.height);
        if (path !== "") row.append(sparkline(path));
      });
      if (d.more > 0) $("<div>").text(t("devices.more-values", { count: d.more })).appendTo(box);
      if (settings && settings.key === d.key) $('<pre class="iot-bridge-devices-settings">').css({ whiteSpace: "pre-wrap", fontSize: "11px" }).text(settings.text).appendTo(box);
    }

    function sparkline(path) {
      var svgNS = "http://www.w3.org/2000/svg";
      var svg = document.createElementNS(svgNS, "svg");
      svg.setAttribute("width", String(SPARK.width));
      svg.setAttribute("height", String(SPARK.height));
      svg.setAttribute("class", "iot-bridge-devices-spark");
      var line = document.createElementNS(svgNS, "path");
      line.setAttribute("d", path);
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", "currentColor");
      line.setAttribute("stroke-width", "1.2");
      svg.appendChild(line);
      return svg;
    }

    function copySettings(d, element) {
      post("credentials", { device: d.key }).done(function (answer) {
        var broker = state.brokers.find(function (b) { return b.id === d.broker; });
        var lines = V.connectionSettings(d, broker, answer.credentials, RED.nodes.node(d.config), window.location.hostname, t);
        settings = { key: d.key, text: V.settingsText(lines) };
        render();
        RED.clipboard.copyText(settings.text, $(element), NS + ":actions.copied");
      });
    }
  }

  window.IotBridgeDevices = { mount: mount };
})();
