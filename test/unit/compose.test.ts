// The Docker deployment cannot be started on the build machines (no Docker engine), so this test
// checks that its files agree with each other: every host:port one service uses is one another
// service listens on, every reference resolves, and the image runs what the repository holds.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const readRepoFile = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

type YamlMap = Record<string, unknown>;

function asMap(value: unknown, where: string): YamlMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where}: expected a mapping`);
  }
  return value as YamlMap;
}

function asList(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${where}: expected a list`);
  return value;
}

function asString(value: unknown, where: string): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw new Error(`${where}: expected a scalar`);
  return value;
}

// Compose substitutes `${NAME:-default}` from the user's environment; the checks use the default.
const withComposeDefaults = (value: string): string =>
  value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, (_match, fallback: string) => fallback);

const compose = asMap(parse(readRepoFile('docker-compose.yml')), 'docker-compose.yml');
const services = asMap(compose.services, 'services');
const prometheusConfig = asMap(parse(readRepoFile('deploy/prometheus.yml')), 'deploy/prometheus.yml');
const dockerfile = readRepoFile('Dockerfile');

function service(name: string): YamlMap {
  return asMap(services[name], `services.${name}`);
}

/** A service's environment, in either compose form (mapping or `NAME=value` list). */
function environmentOf(serviceName: string): Map<string, string> {
  const raw = service(serviceName).environment;
  const where = `services.${serviceName}.environment`;
  const entries: [string, string][] = Array.isArray(raw)
    ? raw.map((item) => {
        const text = asString(item, where);
        const eq = text.indexOf('=');
        return [text.slice(0, eq), text.slice(eq + 1)];
      })
    : Object.entries(asMap(raw, where)).map(([key, value]) => [key, asString(value, `${where}.${key}`)]);
  return new Map(entries.map(([key, value]) => [key, withComposeDefaults(value)]));
}

function envValue(serviceName: string, variable: string): string {
  const value = environmentOf(serviceName).get(variable);
  if (value === undefined) throw new Error(`services.${serviceName}.environment.${variable} is not set`);
  return value;
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
}

function parseHostPort(text: string): Endpoint {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text.trim());
  if (!match) throw new Error(`not host:port: ${text}`);
  return { host: match[1] ?? '', port: Number(match[2]) };
}

interface Listener extends Endpoint {
  readonly name: string;
}

/** Kafka listener lists: `NAME://host:port,NAME://host:port`. */
function parseListeners(text: string): Listener[] {
  return text.split(',').map((entry) => {
    const match = /^([A-Za-z0-9_]+):\/\/(.*)$/.exec(entry.trim());
    if (!match) throw new Error(`not a listener: ${entry}`);
    return { name: match[1] ?? '', ...parseHostPort(match[2] ?? '') };
  });
}

function kafkaListener(name: string): Listener | undefined {
  return parseListeners(envValue('kafka', 'KAFKA_LISTENERS')).find((listener) => listener.name === name);
}

/** The advertised Kafka listener a client reaching `endpoint` lands on, if the broker binds it. */
function advertisedKafkaListenerAt(endpoint: Endpoint): Listener | undefined {
  const advertised = parseListeners(envValue('kafka', 'KAFKA_ADVERTISED_LISTENERS')).find(
    (listener) => listener.host === endpoint.host && listener.port === endpoint.port,
  );
  if (!advertised) return undefined;
  const bound = kafkaListener(advertised.name);
  return bound?.port === advertised.port ? advertised : undefined;
}

function kafkaSecurityProtocolOf(listenerName: string): string | undefined {
  const map = envValue('kafka', 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP');
  const pair = map.split(',').find((entry) => entry.split(':')[0] === listenerName);
  return pair?.split(':')[1];
}

/** Container-side ports a service offers, from `expose` and short-syntax `ports`. */
function containerPortsOf(serviceName: string): number[] {
  const definition = service(serviceName);
  const exposed = (definition.expose === undefined ? [] : asList(definition.expose, 'expose')).map((port) =>
    Number(asString(port, 'expose')),
  );
  const published = (definition.ports === undefined ? [] : asList(definition.ports, 'ports')).map((port) => {
    const parts = asString(port, 'ports').split('/')[0]?.split(':') ?? [];
    return Number(parts[parts.length - 1]);
  });
  return [...exposed, ...published];
}

function dependenciesOf(serviceName: string): Map<string, string> {
  const raw = service(serviceName).depends_on;
  if (raw === undefined) return new Map();
  if (Array.isArray(raw)) return new Map(raw.map((name) => [asString(name, 'depends_on'), 'service_started']));
  return new Map(
    Object.entries(asMap(raw, 'depends_on')).map(([name, spec]) => [
      name,
      asString(asMap(spec, `depends_on.${name}`).condition ?? 'service_started', 'condition'),
    ]),
  );
}

interface Mount {
  readonly type: 'volume' | 'bind';
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

// Short syntax: a source starting with `.`, `/` or `~` is a host path; anything else names a volume.
function mountsOf(serviceName: string): Mount[] {
  const raw = service(serviceName).volumes;
  if (raw === undefined) return [];
  return asList(raw, 'volumes').map((entry): Mount => {
    if (typeof entry === 'string') {
      const [source = '', target = '', mode = ''] = entry.split(':');
      const type = /^[./~]/.test(source) ? 'bind' : 'volume';
      return { type, source, target, readOnly: mode.split(',').includes('ro') };
    }
    const long = asMap(entry, 'volumes[]');
    const type = asString(long.type, 'volumes[].type');
    if (type !== 'bind' && type !== 'volume') throw new Error(`unexpected mount type ${type}`);
    return {
      type,
      source: asString(long.source, 'volumes[].source'),
      target: asString(long.target, 'volumes[].target'),
      readOnly: long.read_only === true,
    };
  });
}

function secretsOf(serviceName: string): string[] {
  const raw = service(serviceName).secrets;
  if (raw === undefined) return [];
  return asList(raw, 'secrets').map((entry) =>
    typeof entry === 'string' ? entry : asString(asMap(entry, 'secrets[]').source, 'secrets[].source'),
  );
}

function healthcheckCommand(serviceName: string): string {
  const test = asMap(service(serviceName).healthcheck, `services.${serviceName}.healthcheck`).test;
  return Array.isArray(test) ? test.map((part) => asString(part, 'healthcheck.test')).join(' ') : asString(test, 'test');
}

const isInsideDeploy = (hostPath: string): boolean => normalize(hostPath).startsWith('deploy/');

/** The single instruction of the Dockerfile's last stage with this keyword. */
function finalStageInstruction(keyword: string): string | undefined {
  const stages = dockerfile.split(/^FROM\s/im);
  const lastStage = stages[stages.length - 1] ?? '';
  const line = lastStage.split('\n').find((text) => text.toUpperCase().startsWith(`${keyword} `));
  return line?.slice(keyword.length + 1).trim();
}

const metricsPort = Number(envValue('pipeline', 'METRICS_PORT'));

describe('docker-compose.yml', () => {
  it('defines kafka, schema-registry, pipeline and prometheus', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['kafka', 'schema-registry', 'pipeline', 'prometheus']));
  });

  it('runs Kafka 3.9.1 as a single KRaft node whose coordinators can start on one broker', () => {
    expect(service('kafka').image).toBe('apache/kafka:3.9.1');
    expect(envValue('kafka', 'KAFKA_PROCESS_ROLES').split(',').sort()).toEqual(['broker', 'controller']);
    const nodeId = envValue('kafka', 'KAFKA_NODE_ID');
    const [voterId, voterAddress = ''] = envValue('kafka', 'KAFKA_CONTROLLER_QUORUM_VOTERS').split('@');
    expect(voterId).toBe(nodeId);
    const controllerListener = kafkaListener(envValue('kafka', 'KAFKA_CONTROLLER_LISTENER_NAMES'));
    expect(parseHostPort(voterAddress)).toEqual({ host: 'kafka', port: controllerListener?.port });
    for (const variable of [
      'KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR',
      'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR',
      'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR',
    ]) {
      expect(envValue('kafka', variable), variable).toBe('1');
    }
    expect(envValue('kafka', 'KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS')).toBe('0');
    expect(envValue('kafka', 'KAFKA_AUTO_CREATE_TOPICS_ENABLE')).toBe('false');
  });

  it("points the pipeline's KAFKA_BROKERS at a listener the kafka service binds and advertises", () => {
    const brokers = envValue('pipeline', 'KAFKA_BROKERS').split(',').map(parseHostPort);
    expect(brokers.length).toBeGreaterThan(0);
    for (const broker of brokers) {
      expect(broker.host).toBe('kafka');
      expect(advertisedKafkaListenerAt(broker), `${broker.host}:${broker.port}`).toBeDefined();
    }
  });

  it("bootstraps the schema registry from the same kafka listener, with that listener's protocol", () => {
    const pipelineBroker = parseHostPort(envValue('pipeline', 'KAFKA_BROKERS').split(',')[0] ?? '');
    const [registryBootstrap] = parseListeners(envValue('schema-registry', 'SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS'));
    expect({ host: registryBootstrap?.host, port: registryBootstrap?.port }).toEqual(pipelineBroker);
    const listener = advertisedKafkaListenerAt(pipelineBroker);
    expect(registryBootstrap?.name).toBe(kafkaSecurityProtocolOf(listener?.name ?? ''));
  });

  it("points the pipeline's SCHEMA_REGISTRY_URL at the schema-registry service and its listener port", () => {
    const registryUrl = new URL(envValue('pipeline', 'SCHEMA_REGISTRY_URL'));
    const registryListener = new URL(envValue('schema-registry', 'SCHEMA_REGISTRY_LISTENERS').split(',')[0] ?? '');
    expect(registryUrl.hostname).toBe('schema-registry');
    expect(registryUrl.protocol).toBe(registryListener.protocol);
    expect(registryUrl.port).toBe(registryListener.port);
  });

  it('exposes the pipeline metrics port and health-checks /healthz on it', () => {
    expect(Number.isInteger(metricsPort)).toBe(true);
    expect(containerPortsOf('pipeline')).toContain(metricsPort);
    expect(healthcheckCommand('pipeline')).toContain(`:${metricsPort}/healthz`);
  });

  it('health-checks kafka with kafka-broker-api-versions.sh against its internal listener', () => {
    const command = healthcheckCommand('kafka');
    expect(command).toContain('/opt/kafka/bin/kafka-broker-api-versions.sh');
    const bootstrap = /--bootstrap-server\s+(\S+)/.exec(command)?.[1] ?? '';
    expect(advertisedKafkaListenerAt(parseHostPort(bootstrap))).toBeDefined();
  });

  it('runs `ledger run` in the pipeline, built from the Dockerfile', () => {
    const build = service('pipeline').build;
    const dockerfilePath = typeof build === 'string' ? 'Dockerfile' : asMap(build, 'build').dockerfile ?? 'Dockerfile';
    expect(dockerfilePath).toBe('Dockerfile');
    const command = service('pipeline').command;
    expect(Array.isArray(command) ? command : asString(command, 'command').split(/\s+/)).toEqual(['run']);
  });

  it('references only services that exist in depends_on, and waits on health only where one is checked', () => {
    for (const name of Object.keys(services)) {
      for (const [dependency, condition] of dependenciesOf(name)) {
        expect(services, `${name} depends on ${dependency}`).toHaveProperty([dependency]);
        if (condition === 'service_healthy') {
          expect(service(dependency).healthcheck, `${dependency} has a healthcheck`).toBeDefined();
        }
      }
    }
    expect([...dependenciesOf('pipeline').entries()]).toEqual(
      expect.arrayContaining([
        ['kafka', 'service_healthy'],
        ['schema-registry', 'service_healthy'],
      ]),
    );
    expect(dependenciesOf('schema-registry').get('kafka')).toBe('service_healthy');
    expect(dependenciesOf('prometheus').has('pipeline')).toBe(true);
  });

  it('declares every named volume and secret a service uses', () => {
    const declaredVolumes = Object.keys(asMap(compose.volumes ?? {}, 'volumes'));
    const declaredSecrets = Object.keys(asMap(compose.secrets ?? {}, 'secrets'));
    for (const name of Object.keys(services)) {
      for (const mount of mountsOf(name).filter((m) => m.type === 'volume')) {
        expect(declaredVolumes, `${name} mounts ${mount.source}`).toContain(mount.source);
      }
      for (const secret of secretsOf(name)) expect(declaredSecrets, `${name} uses ${secret}`).toContain(secret);
    }
  });

  it('keeps pipeline state on a named volume and reads the keyring and signing key read-only from ./deploy/', () => {
    const mounts = mountsOf('pipeline');
    const stateMount = mounts.find((mount) => mount.target === envValue('pipeline', 'LEDGER_STATE_DIR'));
    expect(stateMount?.type).toBe('volume');

    const keyringMount = mounts.find((mount) => mount.target === envValue('pipeline', 'LEDGER_KEYRING'));
    expect(keyringMount).toMatchObject({ type: 'bind', readOnly: true });
    expect(isInsideDeploy(keyringMount?.source ?? '')).toBe(true);

    // Compose mounts a file secret read-only at /run/secrets/<name>.
    const signingKeyPath = envValue('pipeline', 'LEDGER_SIGNING_KEY');
    expect(signingKeyPath).toMatch(/^\/run\/secrets\//);
    const secretName = signingKeyPath.slice('/run/secrets/'.length);
    expect(secretsOf('pipeline')).toContain(secretName);
    const secretFile = asString(asMap(asMap(compose.secrets, 'secrets')[secretName], secretName).file, 'file');
    expect(isInsideDeploy(secretFile)).toBe(true);
  });

  it("mounts the repository's Prometheus configuration into the prometheus service", () => {
    const configMount = mountsOf('prometheus').find((mount) => mount.type === 'bind');
    expect(normalize(configMount?.source ?? '')).toBe('deploy/prometheus.yml');
    expect(configMount?.readOnly).toBe(true);
    expect(containerPortsOf('prometheus')).toContain(9090);
  });

  it('contains no URLs other than ones naming its own services or local addresses', () => {
    const localHosts = new Set([...Object.keys(services), 'localhost', '127.0.0.1', '0.0.0.0']);
    const urls = readRepoFile('docker-compose.yml').match(/[a-z][a-z0-9+.-]*:\/\/[^\s"',]+/gi) ?? [];
    for (const url of urls) {
      const host = /:\/\/([^:/]+)/.exec(url)?.[1] ?? '';
      expect(localHosts, url).toContain(host);
    }
  });
});

describe('deploy/prometheus.yml', () => {
  const scrapeConfigs = asList(prometheusConfig.scrape_configs, 'scrape_configs').map((job) => asMap(job, 'job'));
  const job = (name: string): YamlMap | undefined => scrapeConfigs.find((config) => config.job_name === name);
  const targetsOf = (config: YamlMap | undefined): string[] =>
    asList(config?.static_configs ?? [], 'static_configs').flatMap((group) =>
      asList(asMap(group, 'static_config').targets, 'targets').map((target) => asString(target, 'target')),
    );

  it('scrapes the pipeline at pipeline:<METRICS_PORT>/metrics every 15s, and itself', () => {
    expect(asMap(prometheusConfig.global, 'global').scrape_interval).toBe('15s');
    const ledgerJob = job('findings-ledger');
    expect(ledgerJob?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(targetsOf(ledgerJob)).toEqual([`pipeline:${metricsPort}`]);
    expect(targetsOf(job('prometheus'))).toEqual(['localhost:9090']);
  });

  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  const promtoolInstalled = promtool.error === undefined;
  // CI installs Debian's `prometheus` package, so there a missing promtool is a failure.
  it.skipIf(!promtoolInstalled && !process.env.CI)(
    'passes `promtool check config` (runs when promtool is installed; required when CI is set)',
    () => {
      expect(promtoolInstalled, 'promtool is not on PATH (install Debian package `prometheus`)').toBe(true);
      const check = spawnSync('promtool', ['check', 'config', join(repoRoot, 'deploy/prometheus.yml')], {
        encoding: 'utf8',
      });
      expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    },
  );
});

describe('Dockerfile', () => {
  it('exposes METRICS_PORT', () => {
    expect(finalStageInstruction('EXPOSE')?.split(/\s+/).map((port) => Number(port.split('/')[0]))).toContain(metricsPort);
  });

  it('starts bin/ledger.mjs, a file of the repository, with `run` by default', () => {
    const entrypoint = asList(JSON.parse(finalStageInstruction('ENTRYPOINT') ?? 'null'), 'ENTRYPOINT');
    expect(entrypoint).toEqual(['node', 'bin/ledger.mjs']);
    // The image copies bin/ from the build context, so the script must be in the repository.
    expect(existsSync(join(repoRoot, asString(entrypoint[1], 'ENTRYPOINT[1]')))).toBe(true);
    expect(JSON.parse(finalStageInstruction('CMD') ?? 'null')).toEqual(['run']);
  });

  it('builds on node:20-bookworm-slim and runs as an unprivileged user that owns the state directory', () => {
    const baseImages = [...dockerfile.matchAll(/^FROM\s+(\S+)/gim)].map((match) => match[1]);
    expect(baseImages.length).toBeGreaterThanOrEqual(2);
    for (const image of baseImages) expect(image).toBe('node:20-bookworm-slim');
    expect(finalStageInstruction('USER')).not.toMatch(/^(root|0)$/);
    expect(dockerfile).toContain(`chown node:node ${envValue('pipeline', 'LEDGER_STATE_DIR')}`);
  });

  it('is given a build context without host builds, but with everything the image needs', () => {
    const ignored = readRepoFile('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.stack', '.git', 'out', 'state']));
    // The runtime stage copies these from the build stage, which took them from the context.
    for (const needed of ['bin', 'schemas', 'package.json', 'package-lock.json']) {
      expect(ignored).not.toContain(needed);
      expect(existsSync(join(repoRoot, needed)), needed).toBe(true);
    }
  });
});
