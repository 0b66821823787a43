/* The sandbox emulator's Link page: institution list, credentials, account picker.
 *
 * Framed (by link-initialize.js): it says {action: "ready"} to its parent, starts on
 * {action: "open"}, and reports with postMessage to the parent origin only:
 * {action: "event", eventName, metadata}, {action: "success", public_token, metadata},
 * {action: "exit", error, metadata}. {action: "exit"} from the parent closes it as the user would.
 * Hosted (/link): it starts at once and ends by navigating to redirect_uri with
 *   success: public_token, link_session_id, institution_id, institution_name, account_id,
 *            account_name, account_mask, account_subtype (the first chosen account);
 *   exit:    status, link_session_id, institution_id, and after an error error_type, error_code,
 *            error_message (each only when it has a value).
 */
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('link-config').textContent);
  var root = document.getElementById('plaid-link');
  var framed = config.mode === 'framed';
  var PANES = {
    SELECT_INSTITUTION: 'pane-institutions',
    CREDENTIAL: 'pane-credentials',
    SELECT_ACCOUNT: 'pane-accounts',
    LOADING: 'pane-loading',
    CONNECTED: 'pane-connected',
    ERROR: 'pane-error'
  };
  var EXIT_STATUS = {
    SELECT_INSTITUTION: 'institution_not_found',
    CREDENTIAL: 'requires_credentials',
    LOADING: 'requires_credentials',
    SELECT_ACCOUNT: 'requires_account_selection'
  };
  var state = {
    view: null,
    institution: null,
    lastError: null,
    requestId: config.request_id,
    busy: false,
    opened: false,
    finished: false
  };

  function byId(id) {
    return document.getElementById(id);
  }

  function referrerOrigin() {
    try {
      return document.referrer ? new URL(document.referrer).origin : null;
    } catch (e) {
      return null;
    }
  }

  var parentOrigin = config.parent_origin || referrerOrigin() || '*';

  function post(message) {
    if (!framed || window.parent === window) {
      return;
    }
    message.source = 'plaid-link-emulator';
    window.parent.postMessage(message, parentOrigin);
  }

  function institutionMetadata() {
    return state.institution
      ? { name: state.institution.name, institution_id: state.institution.id }
      : null;
  }

  function emit(eventName, extra) {
    var metadata = {
      error_type: null,
      error_code: null,
      error_message: null,
      exit_status: null,
      institution_id: state.institution ? state.institution.id : null,
      institution_name: state.institution ? state.institution.name : null,
      institution_search_query: null,
      is_update_mode: Boolean(config.update),
      mfa_type: null,
      view_name: state.view,
      request_id: state.requestId,
      link_session_id: config.link_session_id,
      timestamp: new Date().toISOString(),
      selection: null
    };
    Object.keys(extra || {}).forEach(function (key) {
      metadata[key] = extra[key];
    });
    post({ action: 'event', eventName: eventName, metadata: metadata });
  }

  function show(view) {
    Object.keys(PANES).forEach(function (name) {
      byId(PANES[name]).hidden = name !== view;
    });
    state.view = view;
    root.setAttribute('data-view', view);
    emit('TRANSITION_VIEW', { view_name: view });
  }

  function errorObject(body) {
    return {
      error_type: body.error_type,
      error_code: body.error_code,
      error_message: body.error_message,
      display_message: body.display_message === undefined ? null : body.display_message
    };
  }

  function reportError(error) {
    state.lastError = error;
    emit('ERROR', {
      error_type: error.error_type,
      error_code: error.error_code,
      error_message: error.error_message
    });
  }

  function redirect(params) {
    var url = new URL(config.redirect_uri);
    Object.keys(params).forEach(function (key) {
      if (params[key] !== null && params[key] !== undefined) {
        url.searchParams.set(key, params[key]);
      }
    });
    window.location.assign(url.toString());
  }

  function exit() {
    if (state.finished || !state.opened) {
      return;
    }
    state.finished = true;
    var status = EXIT_STATUS[state.view] || null;
    emit('EXIT', { exit_status: status });
    var metadata = {
      institution: institutionMetadata(),
      status: status,
      link_session_id: config.link_session_id,
      request_id: state.requestId
    };
    if (framed) {
      post({ action: 'exit', error: state.lastError, metadata: metadata });
      return;
    }
    var error = state.lastError || {};
    redirect({
      status: status,
      link_session_id: config.link_session_id,
      institution_id: state.institution ? state.institution.id : null,
      error_type: error.error_type,
      error_code: error.error_code,
      error_message: error.error_message
    });
  }

  function succeed(publicToken, metadata) {
    state.finished = true;
    show('CONNECTED');
    emit('HANDOFF', {});
    if (framed) {
      post({ action: 'success', public_token: publicToken, metadata: metadata });
      return;
    }
    var account = metadata.accounts[0] || {};
    redirect({
      public_token: publicToken,
      link_session_id: metadata.link_session_id,
      institution_id: metadata.institution.institution_id,
      institution_name: metadata.institution.name,
      account_id: account.id,
      account_name: account.name,
      account_mask: account.mask,
      account_subtype: account.subtype
    });
  }

  // POSTs to the emulator; done(error, body): error is a Plaid error object or null.
  function call(path, body, done) {
    state.busy = true;
    fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    })
      .then(function (response) {
        return response.json().then(function (json) {
          return { ok: response.ok, json: json };
        });
      })
      .then(
        function (answer) {
          state.busy = false;
          if (answer.json && answer.json.request_id) {
            state.requestId = answer.json.request_id;
          }
          done(answer.ok ? null : errorObject(answer.json), answer.json);
        },
        function () {
          state.busy = false;
          done({
            error_type: 'API_ERROR',
            error_code: 'INTERNAL_SERVER_ERROR',
            error_message: 'the sandbox emulator could not be reached',
            display_message: null
          }, null);
        }
      );
  }

  function toCredentials() {
    byId('credentials-institution').textContent = 'Log in to ' + state.institution.name;
    byId('credentials-error').hidden = true;
    byId('username').value = '';
    byId('password').value = '';
    show('CREDENTIAL');
    byId('username').focus();
  }

  function pickInstitution(button) {
    if (state.busy || state.finished || state.view !== 'SELECT_INSTITUTION') {
      return;
    }
    state.institution = {
      id: button.getAttribute('data-institution-id'),
      name: button.getAttribute('data-institution-name')
    };
    emit('SELECT_INSTITUTION', {});
    toCredentials();
  }

  function renderAccounts(accounts) {
    var list = byId('account-list');
    list.textContent = '';
    accounts.forEach(function (account) {
      var item = document.createElement('li');
      item.className = 'account';
      var label = document.createElement('label');
      var input = document.createElement('input');
      input.type = 'radio';
      input.name = 'account';
      input.value = account.id;
      input.id = byId('account-' + account.subtype) ? 'account-' + account.id : 'account-' + account.subtype;
      input.setAttribute('data-account-id', account.id);
      var name = document.createElement('span');
      name.textContent = account.name;
      var mask = document.createElement('span');
      mask.className = 'mask';
      mask.textContent = '\u2022\u2022\u2022\u2022 ' + account.mask;
      label.appendChild(input);
      label.appendChild(name);
      label.appendChild(mask);
      item.appendChild(label);
      list.appendChild(item);
    });
    byId('accounts-error').hidden = true;
  }

  function showFailure(paneError, error) {
    byId(paneError).textContent = error.display_message || error.error_message;
    byId(paneError).hidden = false;
  }

  function submitCredentials(event) {
    event.preventDefault();
    if (state.busy || state.finished || state.view !== 'CREDENTIAL') {
      return;
    }
    emit('SUBMIT_CREDENTIALS', {});
    var body = {
      link_session_id: config.link_session_id,
      institution_id: state.institution.id,
      username: byId('username').value,
      password: byId('password').value
    };
    show('LOADING');
    call('/link/v2/stable/api/credentials', body, function (error, answer) {
      if (error) {
        reportError(error);
        byId('password').value = '';
        show('CREDENTIAL');
        showFailure('credentials-error', error);
        return;
      }
      if (answer.status === 'success') {
        succeed(answer.public_token, answer.metadata);
        return;
      }
      renderAccounts(answer.accounts);
      show('SELECT_ACCOUNT');
    });
  }

  function submitAccounts(event) {
    event.preventDefault();
    if (state.busy || state.finished || state.view !== 'SELECT_ACCOUNT') {
      return;
    }
    var chosen = Array.prototype.filter
      .call(document.querySelectorAll('#account-list input'), function (input) {
        return input.checked;
      })
      .map(function (input) {
        return input.value;
      });
    if (chosen.length === 0) {
      showFailure('accounts-error', { error_message: 'Select an account to continue.' });
      return;
    }
    show('LOADING');
    call('/link/v2/stable/api/accounts', {
      link_session_id: config.link_session_id,
      account_ids: chosen
    }, function (error, answer) {
      if (error) {
        reportError(error);
        show('SELECT_ACCOUNT');
        showFailure('accounts-error', error);
        return;
      }
      succeed(answer.public_token, answer.metadata);
    });
  }

  function start() {
    if (state.opened) {
      return;
    }
    state.opened = true;
    emit('OPEN', {});
    if (config.error) {
      byId('error-message').textContent = config.error.display_message || config.error.error_message;
      show('ERROR');
      reportError(config.error);
      if (framed) {
        exit();
      }
      return;
    }
    if (config.update) {
      state.institution = {
        id: config.update.institution_id,
        name: config.update.institution_name
      };
      toCredentials();
      return;
    }
    show('SELECT_INSTITUTION');
  }

  Array.prototype.forEach.call(document.querySelectorAll('.institution'), function (button) {
    button.addEventListener('click', function () {
      pickInstitution(button);
    });
  });
  byId('credentials-form').addEventListener('submit', submitCredentials);
  byId('accounts-form').addEventListener('submit', submitAccounts);
  byId('link-exit').addEventListener('click', exit);
  byId('error-exit').addEventListener('click', exit);

  if (!framed) {
    document.body.className = 'hosted';
    start();
    return;
  }
  window.addEventListener('message', function (event) {
    if (event.source !== window.parent || (parentOrigin !== '*' && event.origin !== parentOrigin)) {
      return;
    }
    var data = event.data;
    if (!data || data.source !== 'plaid-link-emulator-host') {
      return;
    }
    if (data.action === 'open') {
      start();
    } else if (data.action === 'exit') {
      exit();
    }
  });
  post({ action: 'ready' });
})();
