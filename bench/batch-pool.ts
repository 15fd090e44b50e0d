/**
 * Reusable send buffers for the load generators: each holds `batchSize`
 * copies of one encoded packet or frame, patched in place before a write.
 * A buffer goes back to the pool only once its write has completed, so a
 * send allocates neither a buffer nor a closure.
 */
export class BatchPool {
  readonly #template: Buffer;
  readonly #free: BatchBuffer[] = [];
  /** Copies of the template in one buffer. */
  readonly batchSize: number;
  /** Bytes of one copy. */
  readonly unitBytes: number;

  constructor(template: Buffer, batchSize: number) {
    this.#template = template;
    this.batchSize = batchSize;
    this.unitBytes = template.length;
  }

  /** A buffer of `batchSize` template copies; pass its `release` as the write callback. */
  take(): BatchBuffer {
    return this.#free.pop() ?? this.#newBatch();
  }

  /** The bytes of `batch` to write for `n` units (the whole buffer when full). */
  slice(batch: BatchBuffer, n: number): Buffer {
    return n === this.batchSize ? batch : batch.subarray(0, n * this.unitBytes);
  }

  #newBatch(): BatchBuffer {
    const bytes = Buffer.allocUnsafe(this.unitBytes * this.batchSize);
    for (let i = 0; i < this.batchSize; i++) this.#template.copy(bytes, i * this.unitBytes);
    const batch: BatchBuffer = Object.assign(bytes, { release: () => this.#free.push(batch) });
    return batch;
  }
}

/** A batch buffer carries its own release callback, made once. */
export type BatchBuffer = Buffer & { readonly release: () => void };
