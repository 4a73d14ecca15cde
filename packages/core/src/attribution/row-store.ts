/**
 * Where attribution rows are kept while they arrive: CSR chunks written in place, one buffer for the logit rows
 * and one for the feature rows, so that no batch copies the rows before it.
 */

/** Consecutive rows as CSR; its rows are rows firstRow, firstRow + 1, … of the block. */
export interface RowChunk {
  firstRow: number;
  rowPtr: Int32Array; // [rows + 1], from 0
  colIdx: Int32Array; // [nnz]
  values: Float32Array; // [nnz]
}

/**
 * Rows computed so far, in computation order; columns are node indices of the unpackaged layout. The store
 * keeps two chunks, the logit rows and the feature rows, each growing in a buffer of its own (RowBuffer).
 */
export interface RowBlock {
  nRows: number;
  nCols: number;
  chunks: readonly RowChunk[];
  /** Node (column index) that each row is the target of. */
  rowNode: Int32Array; // [≥ nRows]
}

/**
 * Rows appended to one CSR buffer, written where they are scanned. Its capacity starts at the worst case
 * (every entry of every row non-zero) up to INITIAL_CAPACITY entries: that reserves address space only, since
 * pages are committed as rows fill them, so a long run of rows is neither copied between batches nor grown.
 */
class RowBuffer {
  nRows = 0;
  nnz = 0;
  readonly rowPtr: Int32Array; // [maxRows + 1]
  colIdx: Int32Array; // [capacity]
  values: Float32Array; // [capacity]

  constructor(maxRows: number, rowSize: number) {
    this.rowPtr = new Int32Array(maxRows + 1);
    const capacity = Math.min(maxRows * rowSize, INITIAL_CAPACITY);
    this.colIdx = new Int32Array(capacity);
    this.values = new Float32Array(capacity);
  }

  /** Room for `more` entries after the stored ones, growing the buffer (×2 at least) if needed. */
  reserve(more: number): void {
    const need = this.nnz + more;
    if (need <= this.colIdx.length) return;
    const capacity = Math.min(Math.max(need, 2 * this.colIdx.length), MAX_ENTRIES);
    if (need > capacity)
      throw new Error(`attribution rows hold ${need} entries, more than CSR indices can address`);
    const colIdx = new Int32Array(capacity);
    const values = new Float32Array(capacity);
    colIdx.set(this.colIdx.subarray(0, this.nnz));
    values.set(this.values.subarray(0, this.nnz));
    this.colIdx = colIdx;
    this.values = values;
  }

  /**
   * Stores the non-zeros of `count` rows of `data` lying `stride` apart, of which the first `rowSize` values
   * are node columns. Returns the offset in `data` of the first non-finite node value, or -1 when all are
   * finite (only then are the rows stored).
   */
  append(data: Float32Array, stride: number, rowSize: number, count: number): number {
    this.reserve(count * rowSize);
    const { colIdx, values, rowPtr } = this;
    let k = this.nnz;
    for (let i = 0; i < count; i++) {
      const base = i * stride;
      for (let c = 0; c < rowSize; c++) {
        const v = data[base + c];
        if (v !== 0) {
          // v - v is NaN exactly for NaN and ±Infinity.
          if (v - v !== 0) return base + c;
          colIdx[k] = c;
          values[k++] = v;
        }
      }
      rowPtr[this.nRows + i + 1] = k;
    }
    this.nRows += count;
    this.nnz = k;
    return -1;
  }

  /** The stored rows as a chunk whose rows are rows firstRow, firstRow + 1, … of the block. */
  chunk(firstRow: number): RowChunk {
    return {
      firstRow,
      rowPtr: this.rowPtr.subarray(0, this.nRows + 1),
      colIdx: this.colIdx.subarray(0, this.nnz),
      values: this.values.subarray(0, this.nnz),
    };
  }
}

/** CSR indices are int32. */
const MAX_ENTRIES = 0x7fffffff;
/** 2^28 entries: 1 GiB of address space per array for the worst case, before any row is stored. */
const INITIAL_CAPACITY = 2 ** 28;

/** The logit rows, then the feature rows, each in a RowBuffer of its own; rows are numbered in that order. */
export class RowStore implements RowBlock {
  readonly rowNode: Int32Array;
  readonly logits: RowBuffer;
  readonly features: RowBuffer;

  constructor(
    readonly nCols: number,
    nLogits: number,
    maxFeatures: number,
    rowSize: number,
  ) {
    this.rowNode = new Int32Array(nLogits + maxFeatures);
    this.logits = new RowBuffer(nLogits, rowSize);
    this.features = new RowBuffer(maxFeatures, rowSize);
  }

  get nRows(): number {
    return this.logits.nRows + this.features.nRows;
  }

  get chunks(): RowChunk[] {
    return [this.logits.chunk(0), this.features.chunk(this.logits.nRows)];
  }

  /** RowBuffer.append into the logit or the feature rows (exploreFeatures computes every logit row first). */
  append(
    data: Float32Array,
    stride: number,
    rowSize: number,
    nodes: readonly number[],
    logits: boolean,
  ): number {
    const into = logits ? this.logits : this.features;
    const at = this.nRows;
    const bad = into.append(data, stride, rowSize, nodes.length);
    if (bad < 0) this.rowNode.set(nodes, at);
    return bad;
  }
}
