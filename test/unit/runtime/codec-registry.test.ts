import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../../runtime/codec-registry.js';

// A registry that accepts connections and never answers (a half-open connection to a registry
// that is restarting): without a timeout the request, the batch waiting for its schema and the
// task behind it would wait forever.
let silent: Server;
let port = 0;
const sockets = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  silent = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  port = typeof address === 'object' && address ? address.port : 0;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

describe('RegistryClient request timeout', () => {
  it('reports a registry that never answers as unavailable (transient), instead of waiting forever', async () => {
    const client = new RegistryClient({ url: `http://127.0.0.1:${port}`, requestTimeoutMs: 200 });
    const error = await client.writerType(1).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CODEC_REGISTRY_UNAVAILABLE' });
    expect(connections, 'the request reached the silent registry').toBeGreaterThan(0);
  }, 10_000);
});
