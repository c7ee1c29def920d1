/**
 * One generation file of a B+ tree store: creating it, finding its newest valid commit header by
 * scanning back from the end, reading and validating nodes through the page cache, and appending
 * commits.
 *
 * Invariants:
 * - a node is validated (checksum, kind, level, bounds) every time it is read from the file, so
 *   open never walks the tree and a damaged node is reported when it is reached;
 * - `end` is where the next commit starts: the end of the newest header, or the end of the file
 *   when open found bytes after that header that belong to no valid commit (a torn commit; they
 *   are kept, never trusted, never overwritten);
 * - `rangeCrc` is the salted CRC-32C of `[syncedBytes, end)`; a header records both, and open
 *   accepts a header only if that range still has that checksum, so a commit whose nodes did not
 *   all reach the disk is never used, while open reads only the bytes written since the last sync;
 * - a sealed header (every commit with `fileSync: "auto"`) is written only after its nodes were
 *   fdatasynced, so a valid sealed header whose range checksum fails is damage to a complete
 *   commit: open throws `CorruptionError` naming the damaged offset instead of rolling back;
 * - the file stays open while a snapshot or a range iterator uses it (`refs`), even after a
 *   compaction replaced (and unlinked) it; its cache pages are dropped when it closes.
 *
 * @module
 */

import { crc32c } from "../codec/checksum.ts";
import { register, shiftRegister } from "./crc.ts";
import { CorruptionError } from "../errors.ts";
import type { FileHandle, FileSystem } from "../io/filesystem.ts";
import { readExactly } from "../io/filesystem.ts";
import type { PageCache } from "../cache/types.ts";
import {
  BLOCK_BYTES,
  BTREE_FORMAT_VERSION,
  ByteBuilder,
  checkNodeFrame,
  decodeHeaderCopies,
  decodePreamble,
  encodeHeader,
  encodePreamble,
  hasHeaderMagic,
  type Header,
  HEADER_BYTES,
  HEADER_SPAN_BYTES,
  headerSpan,
  MAX_NODE_BODY_BYTES,
  NODE_HEADER_BYTES,
  NodeKind,
  type NodeRef,
  PREAMBLE_BYTES,
  SALT_BYTES,
} from "./format.ts";
import { decodeBranchBody, decodeLeafBody, type TreeNode } from "./node.ts";

/** How many files may share one page cache at once (the cache key holds a slot number). */
const CACHE_SLOTS = 1024;
/** Bytes read per step while scanning back for a header or checking a range. */
const SCAN_CHUNK_BYTES = 256 * 1024;
/** Per-node bookkeeping added to a node's size in the cache. */
const NODE_OVERHEAD_BYTES = 256;

const usedSlots = new Set<number>();
let nextSlot = 0;

function takeSlot(): number {
  for (let i = 0; i < CACHE_SLOTS; i++) {
    const slot = (nextSlot + i) % CACHE_SLOTS;
    if (!usedSlots.has(slot)) {
      usedSlots.add(slot);
      nextSlot = slot + 1;
      return slot;
    }
  }
  throw new RangeError(`more than ${CACHE_SLOTS} B+ tree files open in this process`);
}

/** A random salt from `crypto.getRandomValues` (Web standard, every runtime). */
export function newSalt(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(SALT_BYTES));
}

/** The header found by {@linkcode GenerationFile.open}, with where it is. */
export interface FoundHeader {
  header: Header;
  offset: number;
}

/** An open generation file. */
export class GenerationFile {
  readonly fs: FileSystem;
  /** Path of the file (for messages: its name relative to the store directory). */
  readonly path: string;
  readonly generation: number;
  readonly salt: Uint8Array;
  readonly handle: FileHandle;
  /** End of the newest header: where the next commit starts. */
  end: number;
  /** Offset up to which the file is known durable. */
  syncedBytes: number;
  /** Salted CRC-32C of `[syncedBytes, end)`. */
  rangeCrc: number;
  /** Offset of the newest header. */
  headerOffset: number;
  /** The `syncedBytes` recorded in the newest header. */
  headerSyncedBytes: number = PREAMBLE_BYTES;
  /** Whether the newest header is sealed (its commit was durable before the header was written). */
  headerSealed = false;
  /** Format version in the preamble (the version the file was created with). */
  version: number = BTREE_FORMAT_VERSION;
  /** Users: the store while the file is current, plus each snapshot and open iterator. */
  refs = 1;
  #cache: PageCache<TreeNode>;
  #slot: number;
  #saltCrc: number;
  #closed = false;

  private constructor(
    fs: FileSystem,
    handle: FileHandle,
    generation: number,
    salt: Uint8Array,
    cache: PageCache<TreeNode>,
  ) {
    this.fs = fs;
    this.path = handle.path;
    this.handle = handle;
    this.generation = generation;
    this.salt = salt;
    this.#cache = cache;
    this.#slot = takeSlot();
    this.#saltCrc = crc32c(salt);
    this.end = PREAMBLE_BYTES;
    this.syncedBytes = PREAMBLE_BYTES;
    this.rangeCrc = this.#saltCrc;
    this.headerOffset = 0;
  }

  /**
   * Creates a new file at `path` holding only the preamble (not yet synced); the caller writes
   * nodes and a header, then syncs.
   */
  static create(
    fs: FileSystem,
    path: string,
    generation: number,
    cache: PageCache<TreeNode>,
  ): GenerationFile {
    const handle = fs.open(path, { create: true, exclusive: true });
    const salt = newSalt();
    const file = new GenerationFile(fs, handle, generation, salt, cache);
    handle.write(encodePreamble({ generation, salt }), 0);
    return file;
  }

  /**
   * Opens an existing file and finds its newest valid header. Returns the file and the header,
   * or a description of why the file holds no usable commit (the handle is then closed). `end`
   * is left at the end of that header; the caller decides what happens to bytes after it.
   *
   * @throws {CorruptionError} when the newest valid header is sealed but its commit's bytes are
   *   damaged (a complete, durable commit: rolling back would silently lose it)
   */
  static open(
    fs: FileSystem,
    path: string,
    generation: number,
    cache: PageCache<TreeNode>,
    write: boolean,
  ): { file: GenerationFile; found: FoundHeader } | string {
    const handle = fs.open(path, { write });
    try {
      const size = handle.size();
      const preamble = decodePreamble(readExactly(handle, 0, Math.min(size, PREAMBLE_BYTES)));
      if (typeof preamble === "string") return close(handle, preamble);
      if (preamble.generation !== generation) {
        return close(handle, "generation differs from the file name");
      }
      const found = findNewestHeader(handle, size, preamble.salt, generation);
      if (found === undefined) return close(handle, "no valid commit header");
      const file = new GenerationFile(fs, handle, generation, preamble.salt, cache);
      file.end = found.offset + headerSpan(found.header);
      file.headerOffset = found.offset;
      file.syncedBytes = file.end;
      file.headerSyncedBytes = found.header.syncedBytes;
      file.headerSealed = found.header.sealed;
      file.version = preamble.version ?? BTREE_FORMAT_VERSION;
      file.rangeCrc = file.#saltCrc;
      return { file, found };
    } catch (error) {
      handle.close();
      throw error;
    }
  }

  /** The cache key of the node at `offset` of this file. */
  cacheKey(offset: number): number {
    return offset * CACHE_SLOTS + this.#slot;
  }

  /**
   * The node at `ref`, from the cache or read and validated. `kind` and `level` are what the
   * pointer promises; a node that breaks the promise is corrupt.
   *
   * @throws {CorruptionError} when the node fails a check
   */
  load(ref: NodeRef, kind: number, level: number): TreeNode {
    return this.loadAt(ref.offset, ref.length, kind, level);
  }

  /** {@linkcode GenerationFile.load} of the node at `offset` with `length` bytes. */
  loadAt(offset: number, length: number, kind: number, level: number): TreeNode {
    const key = offset * CACHE_SLOTS + this.#slot;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const node = this.readAt(offset, length, kind, level);
    this.#cache.set(key, node, length + NODE_OVERHEAD_BYTES);
    return node;
  }

  /** Reads and validates a node without the cache (for `check()`). */
  read(ref: NodeRef, kind: number, level: number): TreeNode {
    return this.readAt(ref.offset, ref.length, kind, level);
  }

  /** {@linkcode GenerationFile.read} of the node at `offset` with `length` bytes. */
  readAt(offset: number, length: number, kind: number, level: number): TreeNode {
    if (
      !Number.isSafeInteger(offset) || offset < PREAMBLE_BYTES || length < NODE_HEADER_BYTES ||
      length > MAX_NODE_BODY_BYTES + NODE_HEADER_BYTES || offset + length > this.end
    ) {
      throw new CorruptionError(`node pointer out of bounds (length ${length})`, this.path, offset);
    }
    const bytes = readExactly(this.handle, offset, length);
    const frame = checkNodeFrame(bytes, offset, this.salt);
    if (typeof frame === "string") throw new CorruptionError(frame, this.path, offset);
    if (frame.kind !== kind || (kind === NodeKind.branch && frame.level !== level)) {
      throw new CorruptionError(
        `expected node kind ${kind} level ${level}, found kind ${frame.kind} level ${frame.level}`,
        this.path,
        offset,
      );
    }
    try {
      if (kind === NodeKind.leaf) return decodeLeafBody(bytes, NODE_HEADER_BYTES, frame.count);
      if (kind === NodeKind.branch) {
        return decodeBranchBody(bytes, NODE_HEADER_BYTES, frame.count, level);
      }
      return { kind: NodeKind.blob, bytes: bytes.subarray(NODE_HEADER_BYTES), decoded: undefined };
    } catch (error) {
      throw new CorruptionError(`malformed node: ${(error as Error).message}`, this.path, offset, {
        cause: error,
      });
    }
  }

  /** Drops the node at `offset` from the cache (it was superseded). */
  forget(offset: number): void {
    this.#cache.delete(this.cacheKey(offset));
  }

  /** Puts a node written by this process into the cache (so it is not read back). */
  remember(ref: NodeRef, node: TreeNode): void {
    this.#cache.set(this.cacheKey(ref.offset), node, ref.length + NODE_OVERHEAD_BYTES);
  }

  /**
   * Appends a commit: `body` (nodes and padding; it must end at a block boundary) and the header
   * for `header` (its `syncedBytes` and `rangeCrc` are filled in here). With `sealed`, writes the
   * body, fdatasyncs, then writes the header (the caller syncs again to make the header durable);
   * without, writes both at once and does not sync.
   */
  appendCommit(body: Uint8Array, header: CommitFields, sealed: boolean): void {
    const out = new ByteBuilder(body.length + HEADER_SPAN_BYTES);
    out.append(body);
    this.appendCommitFrom(out, header, sealed);
  }

  /**
   * {@linkcode GenerationFile.appendCommit} of the body `out.bytes[0, out.length)`. Unsealed:
   * appends the header's two copies to `out` and writes all with one write. Sealed: writes the
   * body, fdatasyncs it, then writes the header (so a valid sealed header proves its nodes were
   * durable).
   */
  appendCommitFrom(out: ByteBuilder, header: CommitFields, sealed: boolean): void {
    const bodyLength = out.length;
    const headerOffset = this.end + bodyLength;
    if (headerOffset % BLOCK_BYTES !== 0) throw new Error("commit body must end at a block");
    // [0, bodyLength) continued from the file's range register: R(s, M) = R(0, M) ^ R(s, 0^|M|)
    const rangeCrc = register(
      out.register() ^ shiftRegister(register(this.rangeCrc), bodyLength),
    );
    const headerBytes = encodeHeader(
      { ...header, syncedBytes: this.syncedBytes, rangeCrc, sealed, copied: true },
      this.salt,
    );
    if (sealed) {
      if (bodyLength > 0) this.handle.write(out.bytes.subarray(0, bodyLength), this.end);
      if (bodyLength > 0 || this.syncedBytes < this.end) this.handle.sync();
      out.clear();
    }
    out.append(headerBytes);
    out.append(headerBytes);
    this.handle.write(out.bytes.subarray(0, out.length), sealed ? headerOffset : this.end);
    const headerSynced = this.syncedBytes;
    if (sealed) {
      this.syncedBytes = headerOffset;
      this.rangeCrc = crc32c(
        headerBytes,
        0,
        HEADER_BYTES,
        crc32c(headerBytes, 0, HEADER_BYTES, this.#saltCrc),
      );
    } else {
      this.rangeCrc = crc32c(
        headerBytes,
        0,
        HEADER_BYTES,
        crc32c(headerBytes, 0, HEADER_BYTES, rangeCrc),
      );
    }
    this.headerOffset = headerOffset;
    this.headerSyncedBytes = headerSynced;
    this.headerSealed = sealed;
    this.end = headerOffset + HEADER_SPAN_BYTES;
  }

  /** Appends `bytes` (nodes written outside a commit: compaction) at `end`. Does not sync. */
  appendRaw(bytes: Uint8Array): void {
    this.handle.write(bytes, this.end);
    this.rangeCrc = crc32c(bytes, 0, bytes.length, this.rangeCrc);
    this.end += bytes.length;
  }

  /** fdatasyncs the file; everything up to `end` is then durable. */
  sync(): void {
    this.handle.sync();
    this.syncedBytes = this.end;
    this.rangeCrc = this.#saltCrc;
  }

  /** Whether `close()` ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Drops one user; closes the file when none is left. */
  release(): void {
    if (--this.refs <= 0) this.close();
  }

  /** Closes the handle and drops this file's pages from the cache; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const slot = this.#slot;
    this.#cache.deleteWhere((key) => key % CACHE_SLOTS === slot);
    usedSlots.delete(slot);
    try {
      this.handle.close();
    } catch {
      // closing a handle of a failed file system: nothing more to release
    }
  }
}

/** The header fields a commit supplies (the file fills in the sync fields and the flags). */
export type CommitFields = Omit<Header, "syncedBytes" | "rangeCrc" | "sealed" | "copied">;

function close(handle: FileHandle, reason: string): string {
  handle.close();
  return reason;
}

/**
 * Scans back from the end of the file, block by block, for the newest header that is valid (in
 * either copy) and whose unsynced range still has the checksum it recorded. Reads the tail of the
 * file only: the blocks after the chosen header plus the range written since the sync before it.
 * An unsealed header whose range fails belongs to a commit that was never durable (torn): the
 * scan goes on to older headers. A sealed one belongs to a commit that was complete and durable
 * before its header was written: its damage is reported, never rolled back over.
 *
 * @throws {CorruptionError} naming the first damaged byte range of a sealed commit
 */
export function findNewestHeader(
  handle: FileHandle,
  size: number,
  salt: Uint8Array,
  generation: number,
): FoundHeader | undefined {
  let boundary = Math.floor((size - HEADER_BYTES) / BLOCK_BYTES) * BLOCK_BYTES;
  while (boundary >= BLOCK_BYTES) {
    const chunkStart = Math.max(BLOCK_BYTES, boundary - SCAN_CHUNK_BYTES + BLOCK_BYTES);
    const chunkEnd = Math.min(size, boundary + HEADER_SPAN_BYTES);
    const chunk = readExactly(handle, chunkStart, chunkEnd - chunkStart);
    for (let at = boundary; at >= chunkStart; at -= BLOCK_BYTES) {
      const local = at - chunkStart;
      if (!hasHeaderMagic(chunk, local) && !hasHeaderMagic(chunk, local + HEADER_BYTES)) continue;
      const header = decodeHeaderCopies(chunk, local, at, salt);
      if (typeof header === "string" || header.generation !== generation) continue;
      if (rangeChecksum(handle, header.syncedBytes, at, salt) === header.rangeCrc) {
        return { header, offset: at };
      }
      if (header.sealed) {
        const damaged = firstDamage(handle, header.syncedBytes, at, salt);
        throw new CorruptionError(
          `the newest commit (header at ${at}, sequence ${header.sequence}) was complete and ` +
            `durable but its bytes [${header.syncedBytes}, ${at}) fail their checksum: ${damaged.what}`,
          handle.path,
          damaged.offset,
        );
      }
    }
    boundary = chunkStart - BLOCK_BYTES;
  }
  return undefined;
}

/**
 * Where the bytes `[start, end)` of a sealed commit (nodes back to back, then zero padding) are
 * damaged: the first node whose frame fails, or the first non-zero padding byte.
 */
function firstDamage(
  handle: FileHandle,
  start: number,
  end: number,
  salt: Uint8Array,
): { offset: number; what: string } {
  let at = start;
  while (at + NODE_HEADER_BYTES <= end) {
    const head = readExactly(handle, at, NODE_HEADER_BYTES);
    if (head.every((b) => b === 0)) break;
    const length = NODE_HEADER_BYTES +
      new DataView(head.buffer, head.byteOffset, NODE_HEADER_BYTES).getUint32(8, true);
    if (length > end - at) return { offset: at, what: "node frame runs past the commit" };
    const problem = checkNodeFrame(readExactly(handle, at, length), at, salt);
    if (typeof problem === "string") return { offset: at, what: problem };
    at += length;
  }
  const rest = readExactly(handle, at, end - at);
  const nonZero = rest.findIndex((b) => b !== 0);
  if (nonZero >= 0) return { offset: at + nonZero, what: "padding is not zero" };
  return { offset: start, what: "range checksum mismatch" };
}

/**
 * Reads and decodes the header at `offset` (either copy), for walking the chain of headers.
 * Returns the problem instead when neither copy is valid.
 */
export function readHeader(
  handle: FileHandle,
  offset: number,
  salt: Uint8Array,
): Header | string {
  const bytes = readExactly(handle, offset, Math.min(HEADER_SPAN_BYTES, handle.size() - offset));
  return decodeHeaderCopies(bytes, 0, offset, salt);
}

/** The salted CRC-32C of `[start, end)` of the file, read in bounded chunks. */
export function rangeChecksum(
  handle: FileHandle,
  start: number,
  end: number,
  salt: Uint8Array,
): number {
  let crc = crc32c(salt);
  for (let at = start; at < end; at += SCAN_CHUNK_BYTES) {
    const chunk = readExactly(handle, at, Math.min(SCAN_CHUNK_BYTES, end - at));
    crc = crc32c(chunk, 0, chunk.length, crc);
  }
  return crc;
}
