/* shopstream browser SDK, served by the collector at /sdk.js. No outside dependencies.
 *
 * Load it with the snippet (calls made before this file arrives are queued and replayed):
 *
 *   <script>
 *   !function(){var s=window.shopstream=window.shopstream||[];if(s.ready)return;
 *   ["load","track","page","identify","alias","reset","flush","productsSearched",
 *    "productViewed","productClicked","productAdded","productRemoved","cartViewed",
 *    "checkoutStarted","orderCompleted","couponApplied"].forEach(function(m){
 *    s[m]=function(){s.push({m:m,a:[].slice.call(arguments),t:new Date().toISOString()});
 *    return s}});}();
 *   shopstream.load("WRITE_KEY", {host: "https://collector.example.com"});
 *   shopstream.page();
 *   </script>
 *   <script async src="https://collector.example.com/sdk.js"></script>
 *
 * Events are batched (flushAt events or every flushInterval ms) and POSTed to
 * <host>/v1/batch as text/plain with the write key in the body (no CORS preflight); a batch
 * that fails (network, 429, 5xx) is retried with exponential backoff, honouring Retry-After,
 * and kept in localStorage until acknowledged, so it survives a page change. On pagehide
 * what is waiting goes with navigator.sendBeacon. anonymousId is kept in localStorage (a
 * cookie when storage is unavailable); a session ends after 30 minutes without activity.
 */
(function () {
  "use strict";
  var VERSION = "1.0.0";
  var SESSION_GAP_MS = 30 * 60 * 1000;
  var PREFIX = "shopstream_";
  var existing = window.shopstream;
  if (existing && existing.ready) return;

  // -- storage: localStorage, else a first-party cookie ----------------------------------
  var store = (function () {
    try {
      var probe = PREFIX + "probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return {
        get: function (k) { return window.localStorage.getItem(PREFIX + k); },
        set: function (k, v) { window.localStorage.setItem(PREFIX + k, v); },
        remove: function (k) { window.localStorage.removeItem(PREFIX + k); },
        durable: true
      };
    } catch (e) {
      return {
        get: function (k) {
          var m = document.cookie.match(new RegExp("(?:^|; )" + PREFIX + k + "=([^;]*)"));
          return m ? decodeURIComponent(m[1]) : null;
        },
        set: function (k, v) {
          document.cookie = PREFIX + k + "=" + encodeURIComponent(v) +
            "; path=/; max-age=31536000; SameSite=Lax";
        },
        remove: function (k) { document.cookie = PREFIX + k + "=; path=/; max-age=0"; },
        durable: false
      };
    }
  })();

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === "x" ? r : (r & 0x3 | 0x8)).toString(16);
    });
  }

  function assign(target) {
    for (var i = 1; i < arguments.length; i++) {
      var src = arguments[i] || {};
      for (var k in src) if (Object.prototype.hasOwnProperty.call(src, k)) target[k] = src[k];
    }
    return target;
  }

  // -- identity and session ---------------------------------------------------------------
  function anonymousId() {
    var id = store.get("anonymous_id");
    if (!id) { id = uuid(); store.set("anonymous_id", id); }
    return id;
  }

  function sessionId(now) {
    var id = store.get("session_id");
    var last = Number(store.get("session_seen") || 0);
    if (!id || now - last > SESSION_GAP_MS) { id = uuid(); store.set("session_id", id); }
    store.set("session_seen", String(now));
    return id;
  }

  function campaign() {
    var out = {}, names = {source: 1, medium: 1, campaign: 1, term: 1, content: 1};
    location.search.replace(/^\?/, "").split("&").forEach(function (pair) {
      var kv = pair.split("="), key = decodeURIComponent(kv[0] || "");
      if (key.indexOf("utm_") === 0 && names[key.slice(4)]) {
        out[key === "utm_campaign" ? "name" : key.slice(4)] = decodeURIComponent(kv[1] || "");
      }
    });
    return out;
  }

  // -- the client ---------------------------------------------------------------------------
  var config = {writeKey: null, host: null, flushAt: 20, flushInterval: 1000,
                maxBackoff: 30000, maxQueue: 1000};
  var waiting = [];     // messages not yet in a request
  var inFlight = [];    // messages of the request under way
  var backoff = 0, timer = null, sending = false;
  var sdk = {ready: true, VERSION: VERSION, retries: 0, sent: 0};

  function persist() {
    if (!store.durable) return;  // a cookie is too small for a queue
    try { store.set("queue", JSON.stringify(inFlight.concat(waiting))); } catch (e) { /* full */ }
  }

  function restore() {
    if (!store.durable) return;
    try { waiting = JSON.parse(store.get("queue") || "[]") || []; } catch (e) { waiting = []; }
  }

  function endpoint() { return config.host.replace(/\/+$/, "") + "/v1/batch"; }

  function body(batch) {
    return JSON.stringify({batch: batch, writeKey: config.writeKey,
                           sentAt: new Date().toISOString()});
  }

  function schedule(delay) {
    if (timer) return;
    timer = setTimeout(function () { timer = null; sdk.flush(); }, delay);
  }

  function retryLater(retryAfterS) {
    sdk.retries += 1;
    waiting = inFlight.concat(waiting);
    inFlight = [];
    backoff = Math.min(config.maxBackoff, backoff ? backoff * 2 : 1000);
    if (timer) { clearTimeout(timer); timer = null; }
    var delay = Math.max(backoff * (0.5 + Math.random() / 2), (retryAfterS || 0) * 1000);
    persist();
    schedule(delay);
  }

  sdk.flush = function () {
    if (sending || !config.writeKey || !waiting.length) return sdk;
    sending = true;
    inFlight = waiting.splice(0, config.flushAt);
    persist();
    // keepalive: the request completes even when the page goes away meanwhile
    window.fetch(endpoint(), {method: "POST", body: body(inFlight), keepalive: true,
                              headers: {"Content-Type": "text/plain;charset=UTF-8"}})
      .then(function (response) {
        sending = false;
        if (response.status === 200 || (response.status >= 400 && response.status < 429 &&
                                         response.status !== 408)) {
          if (response.status !== 200 && window.console) {
            window.console.warn("shopstream: batch refused with " + response.status);
          }
          sdk.sent += response.status === 200 ? inFlight.length : 0;
          inFlight = [];
          backoff = 0;
          persist();
          if (waiting.length) schedule(0);
          return;
        }
        retryLater(Number(response.headers.get("Retry-After")) || 0);
      }, function () { sending = false; retryLater(0); });
    return sdk;
  };

  function enqueue(message, time) {
    var now = time ? new Date(time).getTime() : Date.now();
    var userId = store.get("user_id");
    var full = assign({
      messageId: uuid(),
      timestamp: new Date(now).toISOString(),
      anonymousId: anonymousId(),
      context: {
        library: {name: "shopstream.js", version: VERSION},
        page: {url: location.href, path: location.pathname, referrer: document.referrer,
               title: document.title, search: location.search},
        userAgent: navigator.userAgent,
        locale: navigator.language,
        sessionId: sessionId(now)
      }
    }, message);
    if (userId && !full.userId) full.userId = userId;
    var utm = campaign();
    if (Object.keys(utm).length) full.context.campaign = utm;
    waiting.push(full);
    if (waiting.length > config.maxQueue) waiting.splice(0, waiting.length - config.maxQueue);
    persist();
    if (waiting.length >= config.flushAt) sdk.flush(); else schedule(config.flushInterval);
    return full.messageId;
  }

  // the calls; each takes an optional trailing time (used when replaying the snippet's queue)
  sdk.load = function (writeKey, options) {
    config = assign(config, options || {}, {writeKey: writeKey});
    if (!config.host) {
      var script = document.querySelector('script[src$="/sdk.js"]');
      config.host = script ? script.src.replace(/\/sdk\.js.*$/, "") : location.origin;
    }
    restore();
    if (waiting.length) schedule(0);
    return sdk;
  };
  sdk.track = function (event, properties, time) {
    return enqueue({type: "track", event: event, properties: properties || {}}, time);
  };
  sdk.page = function (name, properties, time) {
    var props = assign({url: location.href, path: location.pathname, title: document.title,
                        referrer: document.referrer, search: location.search}, properties);
    var message = {type: "page", properties: props};
    if (name) message.name = name;
    return enqueue(message, time);
  };
  sdk.identify = function (userId, traits, time) {
    if (userId) store.set("user_id", String(userId));
    return enqueue({type: "identify", userId: userId ? String(userId) : undefined,
                    traits: traits || {}}, time);
  };
  sdk.alias = function (userId, previousId, time) {
    var previous = previousId || store.get("user_id") || anonymousId();
    store.set("user_id", String(userId));
    return enqueue({type: "alias", userId: String(userId), previousId: previous}, time);
  };
  sdk.reset = function () {
    store.remove("user_id");
    store.remove("anonymous_id");
    store.remove("session_id");
    return sdk;
  };
  sdk.user = function () {
    return {userId: store.get("user_id"), anonymousId: anonymousId(),
            sessionId: store.get("session_id")};
  };

  // E-commerce spec v2 helpers
  function helper(event, shape) {
    var call = function () {
      var args = [].slice.call(arguments);
      return sdk.track(event, shape.apply(null, args), args[shape.length]);
    };
    call.arity = shape.length;
    return call;
  }
  sdk.productsSearched = helper("Products Searched", function (query) { return {query: query}; });
  sdk.productViewed = helper("Product Viewed", function (product) { return product; });
  sdk.productClicked = helper("Product Clicked", function (product) { return product; });
  sdk.productAdded = helper("Product Added", function (product, cartId) {
    return assign({}, product, cartId ? {cart_id: cartId} : {});
  });
  sdk.productRemoved = helper("Product Removed", function (product, cartId) {
    return assign({}, product, cartId ? {cart_id: cartId} : {});
  });
  sdk.cartViewed = helper("Cart Viewed", function (cart) { return cart; });
  sdk.checkoutStarted = helper("Checkout Started", function (order) { return order; });
  sdk.orderCompleted = helper("Order Completed", function (order) { return order; });
  sdk.couponApplied = helper("Coupon Applied", function (coupon) { return coupon; });

  // what is waiting leaves with the page
  window.addEventListener("pagehide", function () {
    if (!config.writeKey || !waiting.length || !navigator.sendBeacon) return;
    var batch = waiting.splice(0, waiting.length);
    if (navigator.sendBeacon(endpoint(), new Blob([body(batch)], {type: "text/plain"}))) {
      persist();
    } else {
      waiting = batch.concat(waiting);
    }
  });

  // replay what the snippet queued before this file arrived ("load" first)
  var queued = Array.isArray(existing) ? existing.slice() : [];
  queued.sort(function (a, b) { return (name(a) === "load" ? 0 : 1) - (name(b) === "load" ? 0 : 1); });
  function name(item) { return Array.isArray(item) ? item[0] : item && item.m; }
  window.shopstream = sdk;
  queued.forEach(function (item) {
    var method = name(item), args = Array.isArray(item) ? item.slice(1) : (item.a || []);
    if (typeof sdk[method] !== "function") return;
    if (!Array.isArray(item) && item.t && method !== "load" && method !== "reset" &&
        method !== "flush") {
      var arity = {track: 2, page: 2, identify: 2, alias: 2}[method];
      if (arity === undefined) arity = sdk[method].arity || 1;
      while (args.length < arity) args.push(undefined);
      args = args.slice(0, arity).concat([item.t]);
    }
    sdk[method].apply(sdk, args);
  });
})();
