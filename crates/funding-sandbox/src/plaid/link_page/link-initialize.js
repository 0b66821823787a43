/* Plaid Link, offline: the sandbox emulator's link-initialize.js.
 *
 *   var handler = Plaid.create({token, onSuccess, onExit, onEvent, onLoad, receivedRedirectUri});
 *   handler.open(); handler.exit(); handler.destroy();
 *
 * create() preloads the emulator's Link page (link.html, on the origin this script came from) in a
 * hidden full-window iframe; open() shows it. The page reports by postMessage, checked against
 * that origin and that iframe, and the handler calls onEvent(eventName, metadata),
 * onSuccess(public_token, metadata) or onExit(error, metadata), then removes the iframe (a later
 * open() starts a new Link session with the same token). receivedRedirectUri is accepted and
 * ignored (the emulator has no OAuth institutions).
 */
(function () {
  'use strict';

  function scriptOrigin() {
    var script = document.currentScript;
    if (!script) {
      var scripts = document.querySelectorAll('script[src*="link-initialize.js"]');
      script = scripts[scripts.length - 1];
    }
    try {
      return new URL(script.src, window.location.href).origin;
    } catch (e) {
      return window.location.origin;
    }
  }

  var linkOrigin = scriptOrigin();
  var counter = 0;

  function noop() {}

  function create(config) {
    config = config || {};
    if (typeof config.token !== 'string' || config.token === '') {
      throw new Error('Plaid.create: a link token is required (config.token)');
    }
    var onSuccess = config.onSuccess || noop;
    var onExit = config.onExit || noop;
    var onEvent = config.onEvent || noop;
    var onLoad = config.onLoad || noop;
    var iframe = null;
    var ready = false;
    var openWanted = false;
    var destroyed = false;
    var loadedOnce = false;

    function toFrame(message) {
      if (iframe && iframe.contentWindow) {
        message.source = 'plaid-link-emulator-host';
        iframe.contentWindow.postMessage(message, linkOrigin);
      }
    }

    function build() {
      counter += 1;
      ready = false;
      iframe = document.createElement('iframe');
      iframe.id = 'plaid-link-iframe-' + counter;
      iframe.name = iframe.id;
      iframe.title = 'Plaid Link';
      iframe.setAttribute('allow', 'clipboard-write');
      iframe.src = linkOrigin + '/link/v2/stable/link.html?token=' +
        encodeURIComponent(config.token) + '&origin=' + encodeURIComponent(window.location.origin);
      var style = iframe.style;
      style.position = 'fixed';
      style.top = '0';
      style.left = '0';
      style.width = '100%';
      style.height = '100%';
      style.border = '0';
      style.zIndex = '2147483647';
      style.display = 'none';
      (document.body || document.documentElement).appendChild(iframe);
    }

    function close() {
      if (iframe && iframe.parentNode) {
        iframe.parentNode.removeChild(iframe);
      }
      iframe = null;
      ready = false;
      openWanted = false;
      if (!destroyed) {
        build();
      }
    }

    function onMessage(event) {
      if (!iframe || event.source !== iframe.contentWindow || event.origin !== linkOrigin) {
        return;
      }
      var data = event.data;
      if (!data || data.source !== 'plaid-link-emulator') {
        return;
      }
      if (data.action === 'ready') {
        ready = true;
        if (!loadedOnce) {
          loadedOnce = true;
          onLoad();
        }
        if (openWanted) {
          openWanted = false;
          iframe.style.display = 'block';
          toFrame({ action: 'open' });
        }
      } else if (data.action === 'event') {
        onEvent(data.eventName, data.metadata);
      } else if (data.action === 'success') {
        close();
        onSuccess(data.public_token, data.metadata);
      } else if (data.action === 'exit') {
        close();
        onExit(data.error, data.metadata);
      }
    }

    window.addEventListener('message', onMessage);
    if (document.body) {
      build();
    } else {
      document.addEventListener('DOMContentLoaded', function () {
        if (!destroyed && !iframe) {
          build();
        }
      });
    }

    return {
      open: function () {
        if (destroyed) {
          return;
        }
        if (!iframe) {
          build();
        }
        if (ready) {
          iframe.style.display = 'block';
          toFrame({ action: 'open' });
        } else {
          openWanted = true;
        }
      },
      exit: function () {
        toFrame({ action: 'exit' });
      },
      destroy: function () {
        destroyed = true;
        window.removeEventListener('message', onMessage);
        if (iframe && iframe.parentNode) {
          iframe.parentNode.removeChild(iframe);
        }
        iframe = null;
      },
      submit: noop
    };
  }

  window.Plaid = { create: create, version: 'sandbox-emulator' };
})();
