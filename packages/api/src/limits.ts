/**
 * Request limits that clients must know as well as the server: kept free of imports so the browser bundle and
 * the worker can read them without pulling in the server.
 */

/** Graph JSON is the largest legitimate body (tens of MB); anything far beyond is refused while it is read. */
export const maxBodyBytes = 256 * 1024 * 1024;
/** Procedures one batched request may call; clients split larger batches (httpBatchLink's maxItems). */
export const maxBatchCalls = 20;
