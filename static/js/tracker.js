/*
 * Listbridge tracker: a small implementation of the Matomo `_paq` commands the generated
 * snippet uses. Hits go out in the Matomo tracking HTTP API format (so a Matomo server
 * understands them too), by navigator.sendBeacon or fetch with keepalive.
 *
 * Configuration comes from the `_paq` queue, or, for sites with a strict CSP, from the
 * data- attributes of this script's own element.
 */
(function (window, document) {
  "use strict";

  if (window._paq && window._paq.__listbridge) return; // loaded twice

  var CAMPAIGN_PARAMS = ["pk_campaign", "piwik_campaign", "mtm_campaign",
    "matomo_campaign", "utm_campaign", "pk_cpn"];
  // Settings Matomo applies before anything else in the queue, whatever their order.
  var FIRST = ["setTrackerUrl", "setSiteId", "setUserId", "disableCookies",
    "setDoNotTrack", "requireConsent", "setConsentGiven", "rememberConsentGiven",
    "setCampaignName", "setConversionAttributionFirstReferrer"];
  var VISITOR_COOKIE = "_lbt_id";
  var CAMPAIGN_COOKIE = "_lbt_ref";
  var CONSENT_COOKIE = "_lbt_consent";

  var state = {
    trackerUrl: "", siteId: "", userId: "", campaign: "", firstReferrer: false,
    cookies: true, doNotTrack: false, consentRequired: false, consent: false,
    visitorId: "", held: []
  };

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return "";
  }

  function writeCookie(name, value, days) {
    if (!state.cookies) return;
    var expires = new Date(Date.now() + days * 864e5).toUTCString();
    document.cookie = name + "=" + encodeURIComponent(value) + "; expires=" + expires +
      "; path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }

  function randomId() {
    var bytes = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += ("0" + bytes[i].toString(16)).slice(-2);
    return out;
  }

  function visitorId() {
    if (!state.cookies) return ""; // the collector derives a daily id without cookies
    if (!state.visitorId) {
      state.visitorId = readCookie(VISITOR_COOKIE) || randomId();
      writeCookie(VISITOR_COOKIE, state.visitorId, 395);
    }
    return state.visitorId;
  }

  function campaignFromUrl() {
    var query = location.search.replace(/^\?/, "").split("&");
    var found = {};
    for (var i = 0; i < query.length; i++) {
      var eq = query[i].indexOf("=");
      if (eq < 1) continue;
      try {
        found[decodeURIComponent(query[i].slice(0, eq))] =
          decodeURIComponent(query[i].slice(eq + 1).replace(/\+/g, " "));
      } catch (e) { /* a malformed escape is not a campaign */ }
    }
    for (var j = 0; j < CAMPAIGN_PARAMS.length; j++) {
      if (found[CAMPAIGN_PARAMS[j]]) return found[CAMPAIGN_PARAMS[j]];
    }
    return "";
  }

  // The campaign a hit is attributed to: the bound one, else the landing URL's, else the
  // remembered one (the last campaign wins unless first-referrer attribution is on).
  function campaign() {
    if (state.campaign) return state.campaign;
    var fromUrl = campaignFromUrl();
    var remembered = state.cookies ? readCookie(CAMPAIGN_COOKIE) : "";
    if (fromUrl && (!remembered || !state.firstReferrer)) {
      writeCookie(CAMPAIGN_COOKIE, fromUrl, 180);
      return fromUrl;
    }
    return remembered || fromUrl;
  }

  function doNotTrack() {
    if (!state.doNotTrack) return false;
    var dnt = navigator.doNotTrack || window.doNotTrack || navigator.msDoNotTrack;
    return dnt === "1" || dnt === "yes" || navigator.globalPrivacyControl === true;
  }

  function send(params) {
    if (doNotTrack()) return;
    if (state.consentRequired && !state.consent) {
      state.held.push(params);
      return;
    }
    if (!state.trackerUrl || !state.siteId) return;
    var now = new Date();
    var query = {
      idsite: state.siteId, rec: "1", apiv: "1", r: String(Math.random()).slice(2, 8),
      url: location.href, urlref: document.referrer,
      res: screen.width + "x" + screen.height,
      h: now.getHours(), m: now.getMinutes(), s: now.getSeconds(),
      cookie: state.cookies ? "1" : "0", send_image: "0"
    };
    var id = visitorId();
    if (id) query._id = id;
    if (state.userId) query.uid = state.userId;
    var code = campaign();
    if (code) query._rcn = code;
    for (var key in params) {
      if (Object.prototype.hasOwnProperty.call(params, key) && params[key] !== undefined &&
          params[key] !== null && params[key] !== "") query[key] = params[key];
    }
    var body = Object.keys(query).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(query[k]);
    }).join("&");
    var type = "application/x-www-form-urlencoded;charset=UTF-8";
    try {
      if (navigator.sendBeacon &&
          navigator.sendBeacon(state.trackerUrl, new Blob([body], {type: type}))) return;
    } catch (e) { /* fall back to fetch */ }
    if (window.fetch) {
      window.fetch(state.trackerUrl, {method: "POST", body: body, keepalive: true,
        mode: "cors", credentials: "omit", headers: {"Content-Type": type}})
        .catch(function () { /* tracking never breaks the page */ });
    } else {
      new Image(1, 1).src = state.trackerUrl + "?" + body.replace("send_image=0", "send_image=1");
    }
  }

  function giveConsent(remember) {
    state.consent = true;
    if (remember) writeCookie(CONSENT_COOKIE, "1", 395);
    var held = state.held;
    state.held = [];
    for (var i = 0; i < held.length; i++) send(held[i]);
  }

  var commands = {
    setTrackerUrl: function (url) { state.trackerUrl = String(url); },
    setSiteId: function (id) { state.siteId = String(id); },
    setUserId: function (id) {
      state.userId = id === undefined || id === null ? "" : String(id);
    },
    resetUserId: function () { state.userId = ""; },
    setCampaignName: function (name) { state.campaign = name ? String(name) : ""; },
    setConversionAttributionFirstReferrer: function (first) { state.firstReferrer = !!first; },
    setDoNotTrack: function (on) { state.doNotTrack = on !== false; },
    disableCookies: function () { state.cookies = false; },
    requireConsent: function () {
      state.consentRequired = true;
      if (readCookie(CONSENT_COOKIE) === "1") state.consent = true;
    },
    setConsentGiven: function () { giveConsent(false); },
    rememberConsentGiven: function () { giveConsent(true); },
    forgetConsentGiven: function () {
      state.consent = false;
      document.cookie = CONSENT_COOKIE + "=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/";
    },
    trackPageView: function (title) {
      send({action_name: title === undefined ? document.title : String(title)});
    },
    trackEvent: function (category, action, name, value) {
      send({e_c: category, e_a: action, e_n: name,
        e_v: value === undefined || value === null || value === "" ? undefined : value});
    },
    // Accepted for compatibility with Matomo snippets; they need nothing from us.
    enableLinkTracking: function () {},
    enableHeartBeatTimer: function () {}
  };

  function apply(command) {
    if (typeof command === "function") { command(); return; }
    if (!command || !command.length) return;
    var fn = commands[command[0]];
    if (fn) fn.apply(null, Array.prototype.slice.call(command, 1));
  }

  function fromElement(element) {
    if (!element || !element.getAttribute("data-site-id")) return [];
    var queued = [
      ["setTrackerUrl", element.getAttribute("data-tracker-url")],
      ["setSiteId", element.getAttribute("data-site-id")]
    ];
    if (element.getAttribute("data-user-id")) {
      queued.push(["setUserId", element.getAttribute("data-user-id")]);
    }
    if (element.getAttribute("data-campaign")) {
      queued.push(["setCampaignName", element.getAttribute("data-campaign")]);
    }
    if (element.getAttribute("data-do-not-track") === "true") queued.push(["setDoNotTrack", true]);
    if (element.getAttribute("data-disable-cookies") === "true") queued.push(["disableCookies"]);
    if (element.getAttribute("data-require-consent") === "true") queued.push(["requireConsent"]);
    queued.push(["trackPageView"]);
    return queued;
  }

  var queue = (window._paq || []).concat(fromElement(document.currentScript));
  var later = [];
  for (var i = 0; i < queue.length; i++) {
    if (queue[i] && FIRST.indexOf(queue[i][0]) >= 0) apply(queue[i]);
    else later.push(queue[i]);
  }
  for (var j = 0; j < later.length; j++) apply(later[j]);

  window._paq = {
    __listbridge: true,
    push: function () {
      for (var k = 0; k < arguments.length; k++) apply(arguments[k]);
      return 0;
    }
  };
})(window, document);
