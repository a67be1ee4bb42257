/**
 * idp-bridge: the Login script of a custom database connection in import
 * mode (lazy migration, docs/migration.md). Auth0 runs it the first time a
 * user signs in; the bridge checks the password at the legacy IdP (under
 * the login page's throttle) and answers the user's profile, whose user_id
 * is the legacy subject (Auth0 stores it as auth0|<user_id>). From then on
 * Auth0 signs the user in itself.
 *
 * configuration: BRIDGE_URL (the bridge's public URL), BRIDGE_TOKEN (its
 * [migration] token), BRIDGE_TIMEOUT_MS (how long to wait for it).
 */
function login(userNameOrEmail, password, callback) {
  var timeout = Number(configuration.BRIDGE_TIMEOUT_MS) || 10000;
  var url = String(configuration.BRIDGE_URL).replace(/\/+$/, '') + '/migration/login';
  fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Authorization': 'Bearer ' + configuration.BRIDGE_TOKEN
    },
    body: JSON.stringify({ username: userNameOrEmail, password: password }),
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
    if (answer.status === 200 && typeof body.user_id === 'string' && body.user_id) {
      return callback(null, body);
    }
    // Refusals of the person's credentials; anything else is an outage or
    // a misconfiguration, never reported as a wrong password.
    var refusals = {
      403: ['wrong_credentials', 'account_locked'],
      429: ['too_many_attempts'],
      400: ['invalid_request']
    };
    var codes = refusals[answer.status] || [];
    if (codes.indexOf(body.error) !== -1) {
      return callback(new WrongUsernameOrPasswordError(
        userNameOrEmail,
        String(body.error_description || 'wrong username or password')
      ));
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
