import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPipeline } from '../../../cli/pipeline.js';
import { loadConfig } from '../../../config.js';
import { generateEd25519KeyPair, signEd25519 } from '../../../contracts/ed25519.js';
import { parseKeyring, type Keyring } from '../../../contracts/keyring.js';
import { ledgerEventHash, type LedgerEvent } from '../../../contracts/ledger-event.js';
import { batchRootHash, eventLeafHash, signMerkleRoot, type MerkleRootRecord } from '../../../contracts/merkle-root.js';
import { exportStream, generateDemoKeys, keyringDocument } from '../../../examples/exports.js';
import { auditLedger, proveEvent, type AuditErrorCode, type DumpRecord } from '../../../merkle/audit.js';
import { rfc6962Sha256 } from '../../../merkle/hasher.js';
import { verifyInclusion } from '../../../merkle/proof.js';
import { jsonLineLogger } from '../../../runtime/kafka/client.js';
import { LocalDriver } from '../../../runtime/local-driver.js';
import { MemoryBackend } from '../../../state/memory.js';
import { TOPICS } from '../../../topology.js';

// The offline audit (`ledger verify`) over what the whole topology produced in-process from a
// realistic export stream, then over copies with one kind of tampering each: every kind is
// caught, with its own code.

const dir = mkdtempSync(join(tmpdir(), 'merkle-audit-'));
const exportKeys = generateDemoKeys();
const signer = generateEd25519KeyPair();
const KEY_ID = 'audit-test-signer';
const keyring = parseKeyring({ keys: [{ keyId: KEY_ID, publicKey: signer.publicKeyPem, status: 'active' }] });
const sign = (message: Buffer): Buffer => signEd25519(message, signer.privateKey);

type EventRecord = DumpRecord<LedgerEvent>;
type RootRecord = DumpRecord<MerkleRootRecord>;
let events: EventRecord[] = [];
let roots: RootRecord[] = [];

beforeAll(async () => {
  const keyringPath = join(dir, 'exports-keyring.json');
  const signingKeyPath = join(dir, 'signer.pem');
  writeFileSync(keyringPath, JSON.stringify(keyringDocument(exportKeys)));
  writeFileSync(signingKeyPath, signer.privateKeyPem);
  const config = loadConfig(
    {},
    { LEDGER_KEYRING: keyringPath, LEDGER_PARTITIONS: '3', LEDGER_SIGNING_KEY: signingKeyPath, LEDGER_SIGNING_KEY_ID: KEY_ID, LEDGER_MERKLE_BATCH_SIZE: '8' },
  );
  const pipeline = buildPipeline(config, jsonLineLogger('test', { write: () => true } as unknown as NodeJS.WritableStream), { workers: 0, watchKeyring: false });
  const driver = await LocalDriver.create({ topology: pipeline.topology, backend: new MemoryBackend(), serde: pipeline.serde, wallClockMs: Date.parse('2026-11-20T10:00:00Z') });
  try {
    await driver.pipeAll(TOPICS.exportsCreated, exportStream({ count: 240, keys: exportKeys, seed: 'audit' }).map((r) => ({ key: r.key, value: r.value })));
    await driver.endOfInput();
    // As `ledger replay` and `ledger dump` write them: plain JSON values.
    const dump = async <V>(topic: string, record: string): Promise<Array<DumpRecord<V>>> =>
      Promise.all(
        driver.records(topic).map(async (r) => ({
          partition: r.partition,
          offset: r.offset,
          key: r.key,
          value: pipeline.codec.catalog.toPlainJson(record, await pipeline.codec.decode(topic, r.value ?? Buffer.alloc(0))) as unknown as V,
        })),
      );
    events = await dump<LedgerEvent>(TOPICS.events, 'LedgerEvent');
    roots = await dump<MerkleRootRecord>(TOPICS.merkleRoots, 'MerkleRoot');
  } finally {
    await driver.close();
    await pipeline.close();
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deep copies, so each case tampers with its own. */
const copy = <T>(value: T): T => structuredClone(value);

const rootsOf = (list: readonly RootRecord[], partition: number): RootRecord[] =>
  list.filter((r) => r.value.partition === partition).sort((a, b) => a.value.batchSeq - b.value.batchSeq);

/** A partition with at least three batches and its roots (the first such partition). */
function busyPartition(): number {
  const partition = [0, 1, 2].find((p) => rootsOf(roots, p).length >= 3);
  if (partition === undefined) throw new Error('test stream too small: no partition has three batches');
  return partition;
}

/** Replaces one root (by partition and batchSeq) in a copy of the roots. */
function withRoot(partition: number, batchSeq: number, change: (root: MerkleRootRecord) => MerkleRootRecord): RootRecord[] {
  return copy(roots).map((r) => (r.value.partition === partition && r.value.batchSeq === batchSeq ? { ...r, value: change(r.value) } : r));
}

/** What a sealer holding the real key would sign: a consistent signature over wrong content. */
function resigned(root: MerkleRootRecord): MerkleRootRecord {
  const { signature: _dropped, ...unsigned } = root;
  return signMerkleRoot(unsigned, sign);
}

function expectAuditError(input: { events?: EventRecord[]; roots?: RootRecord[]; keyring?: Keyring }, code: AuditErrorCode, message?: RegExp): void {
  let caught: unknown;
  try {
    auditLedger({ events: input.events ?? copy(events), roots: input.roots ?? copy(roots), keyring: input.keyring ?? keyring });
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toMatchObject({ name: 'AuditError', code });
  if (message) expect((caught as Error).message).toMatch(message);
}

describe('auditLedger on an untouched replay', () => {
  it('passes, and every event is a leaf of exactly one batch', () => {
    expect(events.length).toBeGreaterThan(150);
    expect(new Set(roots.map((r) => r.value.partition)).size).toBe(3);
    const summary = auditLedger({ events, roots, keyring });
    expect(summary).toEqual({ events: events.length, batches: roots.length, partitions: 3 });
    const leafPositions = roots.flatMap((r) => r.value.leaves.map((_, i) => `${r.value.partition}:${r.value.firstOffset}:${i}`));
    expect(leafPositions).toHaveLength(events.length);
    expect(roots.reduce((n, r) => n + r.value.leafCount, 0)).toBe(events.length);
  });

  it('reads rows in any order (a dump is sorted by the audit, not by the file)', () => {
    expect(auditLedger({ events: [...events].reverse(), roots: [...roots].reverse(), keyring }).batches).toBe(roots.length);
  });

  it('proves every event: the audit path leads to the signed root of its batch', () => {
    for (const e of events) {
      const proof = proveEvent(e.value.eventHash, roots);
      expect(proof, e.value.eventHash).not.toBeNull();
      if (!proof) continue;
      const root = roots.find((r) => r.value.partition === proof.partition && r.value.batchSeq === proof.batchSeq)?.value;
      expect(root?.rootHash).toBe(proof.rootHash);
      expect(proof.partition).toBe(e.partition);
      expect(proof.leafHash).toBe(eventLeafHash(e.value.eventHash).toString('hex'));
      expect(() =>
        verifyInclusion(rfc6962Sha256, proof.leafIndex, proof.treeSize, Buffer.from(proof.leafHash, 'hex'), proof.auditPath.map((h) => Buffer.from(h, 'hex')), Buffer.from(proof.rootHash.slice(7), 'hex')),
      ).not.toThrow();
    }
    expect(proveEvent(`sha256:${'0'.repeat(64)}`, roots)).toBeNull();
  });
});

describe('auditLedger catches each kind of tampering with its own code', () => {
  it('an event field changed: ERR_AUDIT_EVENT_HASH', () => {
    const tampered = copy(events);
    tampered[5] = { ...tampered[5], value: { ...tampered[5].value, status: tampered[5].value.status === 'failed' ? 'succeeded' : 'failed' } };
    expectAuditError({ events: tampered }, 'ERR_AUDIT_EVENT_HASH', new RegExp(`partition ${tampered[5].partition} offset ${tampered[5].offset}`));
  });

  it('an event changed together with its eventHash: the leaf no longer matches (ERR_AUDIT_LEAF)', () => {
    const tampered = copy(events);
    const { eventHash: _old, ...body } = tampered[7].value;
    const changed = { ...body, export: { ...body.export, scanId: 'scan-forged' } };
    tampered[7] = { ...tampered[7], value: { ...changed, eventHash: ledgerEventHash(changed) } };
    expectAuditError({ events: tampered }, 'ERR_AUDIT_LEAF');
  });

  it('a leaf changed (rootHash left as it was): ERR_AUDIT_ROOT_HASH', () => {
    const p = busyPartition();
    const other = events.find((e) => e.partition !== p)?.value.eventHash ?? '';
    expectAuditError({ roots: withRoot(p, 1, (r) => ({ ...r, leaves: r.leaves.map((l, i) => (i === 2 ? other : l)) })) }, 'ERR_AUDIT_ROOT_HASH', new RegExp(`partition ${p} batch 1`));
  });

  it('a leaf changed with rootHash recomputed: ERR_AUDIT_LEAF', () => {
    const p = busyPartition();
    const other = events.find((e) => e.partition !== p)?.value.eventHash ?? '';
    expectAuditError(
      { roots: withRoot(p, 1, (r) => { const leaves = r.leaves.map((l, i) => (i === 2 ? other : l)); return { ...r, leaves, rootHash: batchRootHash(leaves) }; }) },
      'ERR_AUDIT_LEAF',
      new RegExp(`partition ${p} batch 1 leaf 2`),
    );
  });

  it('two leaves swapped with rootHash recomputed (the order is what is wrong): ERR_AUDIT_LEAF', () => {
    const p = busyPartition();
    expectAuditError(
      {
        roots: withRoot(p, 2, (r) => {
          const leaves = [r.leaves[1], r.leaves[0], ...r.leaves.slice(2)];
          return { ...r, leaves, rootHash: batchRootHash(leaves) };
        }),
      },
      'ERR_AUDIT_LEAF',
      new RegExp(`partition ${p} batch 2 leaf 0`),
    );
  });

  it('a rootHash changed: ERR_AUDIT_ROOT_HASH', () => {
    const p = busyPartition();
    expectAuditError({ roots: withRoot(p, 0, (r) => ({ ...r, rootHash: batchRootHash(r.leaves.slice(1)) })) }, 'ERR_AUDIT_ROOT_HASH');
  });

  it('leafCount disagreeing with the leaves: ERR_AUDIT_LEAF_COUNT', () => {
    const p = busyPartition();
    expectAuditError({ roots: withRoot(p, 1, (r) => ({ ...r, leafCount: r.leafCount + 1 })) }, 'ERR_AUDIT_LEAF_COUNT');
  });

  it('a broken chain: ERR_AUDIT_CHAIN, also when the root is re-signed and at batch 0', () => {
    const p = busyPartition();
    const foreign = roots.find((r) => r.value.partition !== p)?.value.signature ?? '';
    expectAuditError({ roots: withRoot(p, 2, (r) => ({ ...r, previousSignature: foreign })) }, 'ERR_AUDIT_CHAIN', new RegExp(`partition ${p} batch 2`));
    expectAuditError({ roots: withRoot(p, 2, (r) => resigned({ ...r, previousSignature: foreign })) }, 'ERR_AUDIT_CHAIN');
    expectAuditError({ roots: withRoot(p, 0, (r) => resigned({ ...r, previousSignature: foreign })) }, 'ERR_AUDIT_CHAIN', /batch 0 must have null/);
  });

  it('a bad signature, a field only the signature covers, an unknown or revoked key: ERR_AUDIT_SIGNATURE', () => {
    const p = busyPartition();
    const flipped = (s: string): string => {
      const bytes = Buffer.from(s, 'base64');
      bytes[10] ^= 1;
      return bytes.toString('base64');
    };
    // Batch 0 has no successor whose previousSignature would also disagree: the signature check is what fails.
    const last = rootsOf(roots, p).length - 1;
    expectAuditError({ roots: withRoot(p, last, (r) => ({ ...r, signature: flipped(r.signature) })) }, 'ERR_AUDIT_SIGNATURE', /does not verify/);
    expectAuditError({ roots: withRoot(p, 0, (r) => ({ ...r, sealedAt: '2030-01-01T00:00:00.000Z' })) }, 'ERR_AUDIT_SIGNATURE');
    expectAuditError({ roots: withRoot(p, 0, (r) => ({ ...r, anchorReference: 'external::forged' })) }, 'ERR_AUDIT_SIGNATURE');
    expectAuditError({ roots: withRoot(p, 0, (r) => ({ ...r, keyId: 'somebody-else' })) }, 'ERR_AUDIT_SIGNATURE', /not in the keyring/);
    const revoked = parseKeyring({ keys: [{ keyId: KEY_ID, publicKey: signer.publicKeyPem, status: 'revoked' }] });
    expectAuditError({ keyring: revoked }, 'ERR_AUDIT_SIGNATURE', new RegExp(`${KEY_ID} is revoked`));
    const otherSigner = generateEd25519KeyPair();
    expectAuditError({ roots: withRoot(p, 0, (r) => { const { signature: _s, ...u } = r; return signMerkleRoot(u, (m) => signEd25519(m, otherSigner.privateKey)); }) }, 'ERR_AUDIT_SIGNATURE');
  });

  it('a batch missing, repeated or renumbered: ERR_AUDIT_SEQUENCE', () => {
    const p = busyPartition();
    const without = (seq: number): RootRecord[] => copy(roots).filter((r) => !(r.value.partition === p && r.value.batchSeq === seq));
    expectAuditError({ roots: without(1) }, 'ERR_AUDIT_SEQUENCE', new RegExp(`partition ${p} batch 2: expected batchSeq 1`));
    expectAuditError({ roots: without(0) }, 'ERR_AUDIT_SEQUENCE');
    const repeated = copy(roots);
    repeated.push(copy(rootsOf(roots, p)[1]));
    expectAuditError({ roots: repeated }, 'ERR_AUDIT_SEQUENCE');
  });

  it('the last batch missing: its events are unsealed (ERR_AUDIT_UNSEALED)', () => {
    const p = busyPartition();
    const last = rootsOf(roots, p).at(-1)?.value.batchSeq;
    expectAuditError({ roots: copy(roots).filter((r) => !(r.value.partition === p && r.value.batchSeq === last)) }, 'ERR_AUDIT_UNSEALED', new RegExp(`partition ${p}: \\d+ event\\(s\\) from offset`));
  });

  it('an event in no batch: after the last one, or before a batch that skips it (ERR_AUDIT_UNSEALED)', () => {
    const p = busyPartition();
    const extra = copy(events.filter((e) => e.partition === p).at(-1) as EventRecord);
    expectAuditError({ events: [...copy(events), { ...extra, offset: extra.offset + 1 }] }, 'ERR_AUDIT_UNSEALED');

    // A (validly signed) batch 0 that stops one event short and a batch 1 that starts after it.
    const [b0, b1] = rootsOf(roots, p).map((r) => r.value);
    const shortened = (r: MerkleRootRecord): MerkleRootRecord => {
      const leaves = r.leaves.slice(0, -1);
      return { ...r, leaves, leafCount: leaves.length, lastOffset: r.lastOffset - 1, rootHash: batchRootHash(leaves) };
    };
    const shortB0 = resigned(shortened(b0));
    const rechained = copy(roots).map((r) => {
      if (r.value.partition !== p) return r;
      if (r.value.batchSeq === 0) return { ...r, value: shortB0 };
      if (r.value.batchSeq === 1) return { ...r, value: resigned({ ...b1, previousSignature: shortB0.signature }) };
      return r;
    });
    // batch 2 still names the old signature of batch 1: only check up to that point by dropping the rest.
    const upToB1 = rechained.filter((r) => r.value.partition !== p || r.value.batchSeq <= 1);
    const eventsUpToB1 = copy(events).filter((e) => e.partition !== p || e.offset <= b1.lastOffset);
    expectAuditError({ roots: upToB1, events: eventsUpToB1 }, 'ERR_AUDIT_UNSEALED', new RegExp(`partition ${p} offset ${b0.lastOffset}: event is in no batch`));
  });

  it('an event inside a batch\'s offset range that is not one of its leaves: ERR_AUDIT_LEAF_COUNT', () => {
    const p = busyPartition();
    const [b0] = rootsOf(roots, p).map((r) => r.value);
    // The batch keeps its offset range but drops its last leaf, re-signed as a faulty sealer would.
    const leaves = b0.leaves.slice(0, -1);
    const faulty = resigned({ ...b0, leaves, leafCount: leaves.length, rootHash: batchRootHash(leaves) });
    const onlyB0 = copy(roots).filter((r) => r.value.partition !== p || r.value.batchSeq === 0).map((r) => (r.value.partition === p ? { ...r, value: faulty } : r));
    const eventsOfB0 = copy(events).filter((e) => e.partition !== p || e.offset <= b0.lastOffset);
    expectAuditError({ roots: onlyB0, events: eventsOfB0 }, 'ERR_AUDIT_LEAF_COUNT', /lies inside the batch but is not one of its leaves/);
  });

  it('a leaf whose event is missing from the dump: ERR_AUDIT_UNKNOWN_EVENT', () => {
    const p = busyPartition();
    const lastEvent = events.filter((e) => e.partition === p).at(-1) as EventRecord;
    expectAuditError({ events: copy(events).filter((e) => e !== lastEvent && !(e.partition === p && e.offset === lastEvent.offset)) }, 'ERR_AUDIT_UNKNOWN_EVENT', new RegExp(`partition ${p} batch \\d+ leaf \\d+`));
  });
});
