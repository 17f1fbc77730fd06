// TEST-ONLY Remotion entry point: never bundled by the product.
//
// The product bundles remotion/src/index.ts. Tests start the local render server with
// `--entry-point remotion/testing/index.ts` (LocalRenderServer(entry_point=...)), or
// deploy a Remotion Lambda site from this file, to make renders fail on purpose
// through the real browser, the real error path and the real classification:
// see ./Root.tsx for the title prefixes that fail.
import {registerRoot} from 'remotion';
import {FaultyRoot} from './Root';

registerRoot(FaultyRoot);
