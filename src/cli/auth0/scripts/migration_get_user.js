/**
 * idp-bridge: the Get User script of a custom database connection in
 * import mode (docs/migration.md). Auth0 runs it for sign-up, password
 * reset and email changes of users it does not have yet. The bridge
 * answers "not found" (callback(null)) unless its adapter can look a user
 * up by email without a password; an outage is an Error, never "not
 * found".
 *
 * configuration: BRIDGE_URL, BRIDGE_TOKEN, BRIDGE_TIMEOUT_MS.
 */
function getUser(email, callback) {
  var timeout = Number(configuration.BRIDGE_TIMEOUT_MS) || 10000;
  var url = String(configuration.BRIDGE_URL).replace(/\/+$/, '') + '/migration/get_user';
  fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Authorization': 'Bearer ' + configuration.BRIDGE_TOKEN
    },
    body: JSON.stringify({ email: email }),
    redirect: 'error',
    signal: AbortSignal.timeout(timeout)
  }).then(function (response) {
    return response.text().then(function (text) {
      var body = null;
      try { body = JSON.parse(text); } catch (e) { body = null; }
      return { status: response.status, body: body || {} };
    });
  }).then(function (answer) {
    var body = answer.body;
    if (answer.status === 200 && body.profile === null) {
      return callback(null);
    }
    if (answer.status === 200 && body.profile && typeof body.profile.user_id === 'string') {
      return callback(null, body.profile);
    }
    return callback(new Error('idp-bridge answered ' + answer.status +
      (body.error ? ' (' + body.error + ')' : '')));
  }, function (err) {
    var why = err && err.name === 'TimeoutError'
      ? 'no answer within ' + timeout + ' ms'
      : String(err && err.message);
    return callback(new Error('idp-bridge cannot be reached: ' + why));
  });
}
