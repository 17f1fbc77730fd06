// A Lambda Node.js runtime for ONE invocation of Remotion's real function (tests only).
// argv: <code dir> <request id> <timeout ms>. The event is read from stdin; the response
// stream goes to fd 3; an unhandled error is written as Lambda's {errorType, errorMessage}
// JSON to fd 4. Logs go to stdout/stderr (the emulator keeps them).
"use strict";
const fs = require("fs");
const path = require("path");

const [codeDir, requestId, timeoutMs] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutMs);
const event = JSON.parse(fs.readFileSync(0, "utf8"));
// Lambda's global: a streaming handler gets (event, responseStream, context).
globalThis.awslambda = { streamifyResponse: (handler) => handler };

const stream = fs.createWriteStream(null, { fd: 3 });
const fail = (err) => {
  const body = JSON.stringify({
    errorType: (err && err.name) || "Error",
    errorMessage: (err && err.message) || String(err),
    trace: err && err.stack ? String(err.stack).split("\n") : [],
  });
  try { fs.writeSync(4, body); } catch (_) { /* nobody listens */ }
  process.exit(1);
};
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);

const { AWS_REGION, AWS_LAMBDA_FUNCTION_NAME } = process.env;
const context = {
  awsRequestId: requestId,
  functionName: AWS_LAMBDA_FUNCTION_NAME,
  functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  invokedFunctionArn: `arn:aws:lambda:${AWS_REGION}:123456789012:function:${AWS_LAMBDA_FUNCTION_NAME}`,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  callbackWaitsForEmptyEventLoop: false,
};

const { handler } = require(path.join(codeDir, "index.js"));
Promise.resolve(handler(event, stream, context)).then(
  () => {
    // like Lambda: the invocation ends with the handler's promise (the stream is flushed)
    const done = () => process.exit(0);
    if (stream.writableFinished) done(); else { stream.once("finish", done); stream.end(); }
  },
  fail,
);
