// A stand-in for Auth0's custom database script sandbox, for the e2e tests:
// the globals Auth0 gives a script (`configuration`, the error classes,
// `callback`), the printed script loaded as text, one call of its function,
// and the callback's arguments printed as one line of JSON.
//
//   node harness.js SCRIPT_FILE FUNCTION ARGS_JSON CONFIGURATION_JSON
//
// Node 18+ has `fetch` and `AbortSignal.timeout`, as Auth0's Node 18 and
// 22 sandboxes do. Exit codes: 3 the callback was called twice, 4 never
// within 25 s, 5 the script ended without calling back.
'use strict';

const fs = require('fs');

const [scriptFile, name, argsJson, configurationJson] = process.argv.slice(2);

class WrongUsernameOrPasswordError extends Error {
  constructor(user, message) {
    super(message);
    this.name = 'WrongUsernameOrPasswordError';
    this.user = user;
  }
}

class ValidationError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ValidationError';
    this.code = code;
  }
}

const configuration = Object.freeze(JSON.parse(configurationJson));
let calls = 0;

function callback(error, profile) {
  calls += 1;
  if (calls > 1) {
    process.stderr.write('the callback was called more than once\n');
    process.exit(3);
  }
  let kind = null;
  if (error instanceof WrongUsernameOrPasswordError) kind = 'WrongUsernameOrPasswordError';
  else if (error instanceof ValidationError) kind = 'ValidationError';
  else if (error instanceof Error) kind = 'Error';
  else if (error) kind = typeof error;
  process.stdout.write(JSON.stringify({
    arguments: arguments.length,
    error: error ? { kind, message: String(error.message), user: error.user || null } : null,
    profile: profile === undefined ? null : profile,
  }) + '\n');
}

const text = fs.readFileSync(scriptFile, 'utf8');
// The script is a function declaration, as Auth0 stores it; evaluated with
// the sandbox's globals in scope and nothing of this file's.
const fn = new Function(
  'configuration', 'WrongUsernameOrPasswordError', 'ValidationError', 'callback',
  text + '\nreturn ' + name + ';'
)(configuration, WrongUsernameOrPasswordError, ValidationError, callback);

setTimeout(() => {
  if (calls === 0) {
    process.stderr.write('the script never called back\n');
    process.exit(4);
  }
}, 25000).unref();
process.on('beforeExit', () => {
  if (calls !== 1) {
    process.stderr.write('the script ended without calling back\n');
    process.exit(5);
  }
});

fn(...JSON.parse(argsJson), callback);
