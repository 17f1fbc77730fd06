// Deploys the Remotion site into "AWS S3" (a moto server) with Remotion's own
// getOrCreateBucket() + deploySite(). argv: <remotion dir> <entry point> <site name> <region>.
// AWS_ENDPOINT_URL_S3 points Remotion's bundled SDK at the server. Prints one JSON line.
"use strict";
const path = require("path");
const { createRequire } = require("module");

const [remotionDir, entryPoint, siteName, region] = process.argv.slice(2);
const lambda = createRequire(path.resolve(remotionDir, "package.json"))("@remotion/lambda");

(async () => {
  const { bucketName } = await lambda.getOrCreateBucket({ region });
  const site = await lambda.deploySite({
    bucketName, entryPoint: path.resolve(entryPoint), region, siteName,
    options: { onBundleProgress: () => undefined, onUploadProgress: () => undefined },
    privacy: "public",
  });
  process.stdout.write(JSON.stringify({ bucketName, serveUrl: site.serveUrl, siteName: site.siteName }) + "\n");
})().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(1);
});
