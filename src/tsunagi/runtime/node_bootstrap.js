// The Node.js worker: one warm execution environment of one function, speaking the same
// frames as worker.py over the file descriptors TSUNAGI_FD_IN / TSUNAGI_FD_OUT:
//   kind (1 byte) | header length (u32 BE) | body length (u32 BE) | header JSON | body
// Handlers may be async (`exports.handler = async (event, context) => ...`) or take a callback.
'use strict';

const fs = require('fs');
const path = require('path');
const util = require('util');

const fdIn = parseInt(process.env.TSUNAGI_FD_IN, 10);
const fdOut = parseInt(process.env.TSUNAGI_FD_OUT, 10);
delete process.env.TSUNAGI_FD_IN;
delete process.env.TSUNAGI_FD_OUT;

function send(kind, header, body) {
  const h = header ? Buffer.from(JSON.stringify(header)) : Buffer.alloc(0);
  const b = body ? (Buffer.isBuffer(body) ? body : Buffer.from(body)) : Buffer.alloc(0);
  const head = Buffer.alloc(9);
  head.write(kind, 0, 1, 'latin1');
  head.writeUInt32BE(h.length, 1);
  head.writeUInt32BE(b.length, 5);
  const data = Buffer.concat([head, h, b]);
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fdOut, data, off, data.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

let currentRequestId = undefined;

function logLine(level, args) {
  const msg = util.format.apply(null, args);
  const ts = new Date().toISOString();
  send('L', null, `${ts}\t${currentRequestId || 'undefined'}\t${level}\t${msg}`);
}

console.log = (...a) => logLine('INFO', a);
console.info = (...a) => logLine('INFO', a);
console.warn = (...a) => logLine('WARN', a);
console.error = (...a) => logLine('ERROR', a);
console.debug = (...a) => logLine('DEBUG', a);
console.trace = (...a) => logLine('TRACE', a);

function errorObject(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      errorMessage: err.message,
      trace: String(err.stack || '').split('\n'),
    };
  }
  let message;
  try { message = typeof err === 'string' ? err : JSON.stringify(err); } catch (e) { message = String(err); }
  return { errorType: 'string', errorMessage: message, trace: [] };
}

class RuntimeError extends Error {
  constructor(type, message, stack) {
    super(message);
    this.name = type;
    if (stack !== undefined) this.stack = stack;
  }
}

async function loadHandler(taskRoot, handlerString) {
  const m = /^([^.]*)\.(.*)$/.exec(path.basename(handlerString));
  if (!m) throw new RuntimeError('Runtime.MalformedHandlerName', `Bad handler ${handlerString}`);
  const dir = path.dirname(handlerString);
  const modulePath = path.resolve(taskRoot, dir, m[1]);
  let mod;
  const candidates = ['.js', '.cjs', '.mjs', ''];
  let found = null;
  for (const ext of candidates) {
    if (fs.existsSync(modulePath + ext) && fs.statSync(modulePath + ext).isFile()) { found = modulePath + ext; break; }
  }
  try {
    if (found && found.endsWith('.mjs')) {
      mod = await import(found);
    } else {
      mod = require(found || modulePath);
    }
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new RuntimeError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`, e.stack);
    }
    if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND') {
      throw new RuntimeError('Runtime.ImportModuleError', `Error: Cannot find module '${m[1]}'\nRequire stack:\n- ${__filename}`);
    }
    throw e;
  }
  let fn = mod;
  for (const part of m[2].split('.')) {
    fn = fn == null ? undefined : fn[part];
  }
  if (fn === undefined && mod && mod.default) fn = mod.default[m[2]];
  if (fn === undefined) throw new RuntimeError('Runtime.HandlerNotFound', `${handlerString} is undefined or not exported`);
  if (typeof fn !== 'function') throw new RuntimeError('Runtime.HandlerNotFound', `${handlerString} is not a function`);
  return fn;
}

function makeContext(header, done) {
  const env = process.env;
  let callbackWaits = true;
  const ctx = {
    awsRequestId: header.id,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: header.arn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: header.identity || undefined,
    clientContext: undefined,
    xRayTraceId: header.trace || undefined,
    getRemainingTimeInMillis: () => Math.max(Math.floor(header.deadline_ms - Date.now()), 0),
    succeed: (r) => done(null, r),
    fail: (e) => done(e || 'handled'),
    done: (e, r) => done(e, r),
  };
  Object.defineProperty(ctx, 'callbackWaitsForEmptyEventLoop', {
    get: () => callbackWaits, set: (v) => { callbackWaits = v; }, enumerable: true,
  });
  if (header.client_context) {
    try { ctx.clientContext = JSON.parse(header.client_context); } catch (e) { ctx.clientContext = undefined; }
  }
  return ctx;
}

function reportError(kind, err, requestId) {
  const e = errorObject(err);
  const payload = { errorType: e.errorType, errorMessage: e.errorMessage, trace: e.trace };
  const ts = new Date().toISOString();
  send('L', null, `${ts}\t${requestId || 'undefined'}\tERROR\tInvoke Error \t${JSON.stringify(payload)}`);
  send(kind, kind === 'F' ? { maxrss: Math.round(process.memoryUsage().rss / 1048576) } : null, JSON.stringify(payload));
}

async function main() {
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const started = process.hrtime.bigint();
  let handler;
  try {
    handler = await loadHandler(taskRoot, process.env._HANDLER || '');
  } catch (e) {
    reportError('E', e, undefined);
    process.exit(1);
  }
  send('R', { init_ms: Number(process.hrtime.bigint() - started) / 1e6 }, null);

  let buf = Buffer.alloc(0);
  const queue = [];
  let running = false;
  const stream = fs.createReadStream(null, { fd: fdIn, highWaterMark: 65536 });

  async function runOne(header, body) {
    currentRequestId = header.id;
    // _X_AMZN_TRACE_ID belongs to one invocation: the process is reused, so set it or clear it each time.
    if (header.trace) process.env._X_AMZN_TRACE_ID = header.trace;
    else delete process.env._X_AMZN_TRACE_ID;
    let event;
    try {
      event = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch (e) {
      reportError('F', new RuntimeError('Runtime.UnmarshalError', `Unable to unmarshal input: ${e.message}`), header.id);
      return;
    }
    await new Promise((resolve) => {
      let finished = false;
      const done = (err, result) => {
        if (finished) return;
        finished = true;
        if (err !== null && err !== undefined) {
          reportError('F', err, header.id);
        } else {
          let out;
          try {
            out = JSON.stringify(result === undefined ? null : result);
          } catch (e) {
            reportError('F', new RuntimeError('Runtime.MarshalError', `Unable to stringify response body: ${e.message}`), header.id);
            resolve();
            return;
          }
          send('O', { maxrss: Math.round(process.memoryUsage().rss / 1048576) }, Buffer.from(out === undefined ? 'null' : out));
        }
        resolve();
      };
      const ctx = makeContext(header, done);
      try {
        const r = handler(event, ctx, done);
        if (r && typeof r.then === 'function') {
          r.then((v) => done(null, v), (e) => done(e === undefined || e === null ? new Error(String(e)) : e));
        } else if (handler.length < 3) {
          done(null, r);
        }
      } catch (e) {
        done(e);
      }
    });
  }

  async function drain() {
    if (running) return;
    running = true;
    while (queue.length) {
      const [header, body] = queue.shift();
      await runOne(header, body);
    }
    running = false;
  }

  process.on('uncaughtException', (e) => { reportError('F', e, currentRequestId); process.exit(129); });
  process.on('unhandledRejection', (e) => { reportError('F', e, currentRequestId); process.exit(128); });

  stream.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 9) {
      const hl = buf.readUInt32BE(1);
      const bl = buf.readUInt32BE(5);
      if (buf.length < 9 + hl + bl) break;
      const kind = buf.toString('latin1', 0, 1);
      const header = hl ? JSON.parse(buf.toString('utf8', 9, 9 + hl)) : {};
      const body = buf.subarray(9 + hl, 9 + hl + bl);
      buf = buf.subarray(9 + hl + bl);
      if (kind === 'I') queue.push([header, Buffer.from(body)]);
    }
    drain();
  });
  stream.on('end', () => process.exit(0));
}

main();
