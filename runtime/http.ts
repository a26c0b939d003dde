import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export type RouteHandler = (request: IncomingMessage, url: URL) => Promise<{ status: number; body: unknown } | null>;

/**
 * The pipeline's HTTP surface: `/metrics` (Prometheus exposition), `/healthz` (the process
 * runs), `/readyz` (stores restored, tasks processing), plus routes added by processors'
 * query APIs. Loopback-bindable, no external calls.
 */
export async function startHttpServer(options: {
  port: number;
  host?: string;
  registry: Registry;
  isReady: () => boolean;
  routes?: readonly RouteHandler[];
}): Promise<Server> {
  const server = createServer((request, response) => {
    void handle(request, response).catch(() => send(response, 500, { error: 'internal error' }));
  });
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET') return send(response, 405, { error: 'method not allowed' });
    if (url.pathname === '/metrics') {
      const text = await options.registry.metrics();
      response.writeHead(200, { 'content-type': options.registry.contentType });
      response.end(text);
      return;
    }
    if (url.pathname === '/healthz') return send(response, 200, { status: 'ok' });
    if (url.pathname === '/readyz') {
      const ready = options.isReady();
      return send(response, ready ? 200 : 503, { status: ready ? 'ready' : 'restoring' });
    }
    for (const route of options.routes ?? []) {
      const result = await route(request, url);
      if (result) return send(response, result.status, result.body);
    }
    send(response, 404, { error: 'not found' });
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return server;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}
