#!/usr/bin/env node
// @ts-check
// Local stack without Docker: a single-node KRaft Kafka broker and Apicurio Registry (its
// Confluent-compatible API), both fetched from Maven Central with `mvn` into a per-user cache
// and run as detached JVMs with their state under <repo>/.stack/.
//
//   node scripts/stack.mjs up [--no-registry]   start (idempotent), wait until both answer
//   node scripts/stack.mjs down                 stop (idempotent)
//   node scripts/stack.mjs status               JSON: per component running/pid/address
//   node scripts/stack.mjs env                  KAFKA_BROKERS=... and SCHEMA_REGISTRY_URL=...
//   node scripts/stack.mjs kafka-class <MainClass> [args...]   run a Kafka tool on its classpath
//
// Environment: LEDGER_STACK_CACHE (cache base, default $XDG_CACHE_HOME or ~/.cache; the cache
// is <base>/findings-ledger), LEDGER_STACK_START_TIMEOUT_SECONDS (default 180), JAVA_HOME,
// KAFKA_HEAP_OPTS / KAFKA_OPTS (JVM options for the broker and for kafka-class).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

export const KAFKA_VERSION = '3.9.1';
export const REGISTRY_VERSION = '2.6.13.Final';
const REGISTRY_ARTIFACT = `io.apicurio:apicurio-registry-app:${REGISTRY_VERSION}:tar.gz:all`;
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

const HOST = '127.0.0.1';
const KAFKA_PORT = 19092;
const CONTROLLER_PORT = 19093;
const REGISTRY_PORT = 18081;
export const KAFKA_BROKERS = `${HOST}:${KAFKA_PORT}`;
export const SCHEMA_REGISTRY_URL = `http://${HOST}:${REGISTRY_PORT}/apis/ccompat/v7`;

const SCRIPT_DIR = path.dirname(fileURLToPath(import.meta.url));
const TEMPLATE_DIR = path.join(SCRIPT_DIR, 'kafka');
const REPO_ROOT = path.resolve(SCRIPT_DIR, '..');
const STACK_DIR = path.join(REPO_ROOT, '.stack');
const KAFKA_DIR = path.join(STACK_DIR, 'kafka');
const REGISTRY_DIR = path.join(STACK_DIR, 'registry');
const LOCK_FILE = path.join(STACK_DIR, 'stack.lock');
const COMPLETE_MARKER = '.complete';
// Put on every JVM this script starts, so a pid is recognised as ours (and as this checkout's)
// even after pid reuse or a lost pid file.
const OWNER_FLAG = `-Dfindings-ledger.stack=${STACK_DIR}`;

const STOP_GRACE_MS = 30_000;
const POLL_MS = 300;

/** @typedef {'kafka' | 'registry'} Component */
/**
 * @typedef {'JAVA_MISSING' | 'JAVA_TOO_OLD' | 'MVN_MISSING' | 'FETCH_FAILED' | 'PORT_TAKEN'
 *   | 'START_FAILED' | 'START_TIMEOUT' | 'LOCK_TIMEOUT' | 'USAGE'} StackErrorCode
 */
/**
 * @typedef {{ state: 'started' | 'already-running', pid: number, address: string, elapsedMs: number }
 *   | { state: 'unavailable', code: StackErrorCode, reason: string }
 *   | { state: 'skipped' }} ComponentUpResult
 */
/** @typedef {{ kafka: ComponentUpResult, registry: ComponentUpResult, elapsedMs: number }} UpResult */
/** @typedef {{ registry?: boolean, log?: (line: string) => void }} UpOptions */
/** @typedef {{ components?: Component[], log?: (line: string) => void }} DownOptions */
/** @typedef {{ kafka?: 'stopped' | 'not-running', registry?: 'stopped' | 'not-running' }} DownResult */
/**
 * @typedef {{ running: boolean, pid: number | null, address: string, version: string, log: string,
 *   controller?: string, reason?: string }} ComponentStatus
 */
/**
 * @typedef {{ kafka: ComponentStatus, registry: ComponentStatus,
 *   cache: { dir: string, kafkaFetched: boolean, registryFetched: boolean } }} StackStatus
 */

export class StackError extends Error {
  /**
   * @param {StackErrorCode} code
   * @param {string} message one line, shown to the developer as is
   */
  constructor(code, message) {
    super(message);
    this.name = 'StackError';
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Paths and small helpers

function cacheDir() {
  const base = process.env.LEDGER_STACK_CACHE || process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'findings-ledger');
}
const kafkaCacheDir = () => path.join(cacheDir(), `kafka-${KAFKA_VERSION}`);
const registryCacheDir = () => path.join(cacheDir(), `apicurio-registry-${REGISTRY_VERSION}`);
const kafkaClasspath = () => path.join(kafkaCacheDir(), 'libs', '*');

/** @param {string} file */
const relativeToRepo = (file) => path.relative(REPO_ROOT, file) || '.';

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {number} ms */
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function startTimeoutMs() {
  const fromEnv = Number(process.env.LEDGER_STACK_START_TIMEOUT_SECONDS);
  return (Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : 180) * 1000;
}

/** @param {string} text */
const stripAnsi = (text) => text.replace(/\u001b\[[0-9;]*m/g, '');

/** @param {string} output @returns {string} the line most likely to explain a failure */
function explainingLine(output) {
  const lines = stripAnsi(output).split('\n').map((line) => line.trim()).filter(Boolean);
  const error = lines.find((line) => line.startsWith('[ERROR]') && line.length > '[ERROR] '.length + 3);
  return (error ?? lines.at(-1) ?? 'no output').slice(0, 400);
}

/** @param {string} file */
const exists = (file) => fs.existsSync(file);

/** @param {string} dir */
async function directorySizeBytes(dir) {
  let total = 0;
  for (const entry of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await fsp.stat(path.join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}

/**
 * Runs a command to completion, capturing its output.
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string }} [options]
 * @returns {Promise<{ code: number | null, output: string }>}
 */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {Buffer[]} */
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

// ---------------------------------------------------------------------------------------------
// Java and Maven

function javaBinary() {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** @type {number | undefined} */
let javaMajorCache;

/** @returns {Promise<number>} the major version of the java that will run the JVMs */
async function javaMajorVersion() {
  if (javaMajorCache !== undefined) return javaMajorCache;
  let result;
  try {
    result = await run(javaBinary(), ['-version']);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') {
      throw new StackError('JAVA_MISSING', `java not found (${javaBinary()}): install a JDK 17+ or set JAVA_HOME`);
    }
    throw error;
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.output);
  if (result.code !== 0 || !match) {
    throw new StackError('JAVA_MISSING', `could not run ${javaBinary()} -version: ${explainingLine(result.output)}`);
  }
  // Java 8 and older report "1.8.0_x".
  javaMajorCache = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  return javaMajorCache;
}

/**
 * @param {number} minimum
 * @param {string} purpose
 */
async function requireJava(minimum, purpose) {
  const major = await javaMajorVersion();
  if (major < minimum) {
    throw new StackError('JAVA_TOO_OLD', `${purpose} needs Java ${minimum}+, but ${javaBinary()} is Java ${major}`);
  }
}

/**
 * Runs mvn in batch, quiet mode; failures become one FETCH_FAILED line.
 * @param {string[]} args
 * @param {string} cwd
 * @param {string} what
 */
async function mvn(args, cwd, what) {
  let result;
  try {
    result = await run('mvn', ['-B', '-q', '-Dstyle.color=never', ...args], { cwd });
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') {
      throw new StackError('MVN_MISSING', `mvn not found on PATH: Maven is needed once to fetch ${what} into ${cacheDir()}`);
    }
    throw error;
  }
  if (result.code !== 0) {
    throw new StackError('FETCH_FAILED', `mvn could not fetch ${what}: ${explainingLine(result.output)}`);
  }
}

/**
 * @param {unknown} error
 * @returns {error is NodeJS.ErrnoException}
 */
function isErrnoException(error) {
  return error instanceof Error && 'code' in error;
}

// ---------------------------------------------------------------------------------------------
// The cache: each entry is filled in a private staging directory, gets its marker file last and
// is then renamed into place, so an interrupted fetch never looks complete.

/** @param {string} dir */
const isFetched = (dir) => exists(path.join(dir, COMPLETE_MARKER));

/**
 * @param {string} targetDir
 * @param {string} what
 * @param {(stagingDir: string, workDir: string) => Promise<void>} fill
 * @param {(line: string) => void} log
 */
async function ensureCached(targetDir, what, fill, log) {
  if (isFetched(targetDir)) return;
  await fsp.mkdir(path.dirname(targetDir), { recursive: true });
  await removeAbandonedStaging(targetDir);
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const stagingDir = `${targetDir}.partial-${suffix}`;
  const workDir = `${targetDir}.work-${suffix}`;
  const startedAt = Date.now();
  log(`fetching ${what} with mvn into ${targetDir} (once per machine)...`);
  try {
    await fsp.mkdir(stagingDir, { recursive: true });
    await fsp.mkdir(workDir, { recursive: true });
    await fill(stagingDir, workDir);
    const elapsedMs = Date.now() - startedAt;
    const sizeBytes = await directorySizeBytes(stagingDir);
    await fsp.writeFile(
      path.join(stagingDir, COMPLETE_MARKER),
      `${JSON.stringify({ what, fetchedAt: new Date().toISOString(), elapsedMs, sizeBytes })}\n`,
    );
    if (exists(targetDir) && !isFetched(targetDir)) await fsp.rm(targetDir, { recursive: true, force: true });
    try {
      await fsp.rename(stagingDir, targetDir);
    } catch (error) {
      // A concurrent fetch (another checkout or terminal) finished first: keep its copy.
      if (!isFetched(targetDir)) throw error;
    }
    log(`fetched ${what} in ${seconds(elapsedMs)} (${Math.round(sizeBytes / 1024 / 1024)} MiB)`);
  } finally {
    await fsp.rm(stagingDir, { recursive: true, force: true });
    await fsp.rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Removes staging and work directories left by a fetch whose process died (killed, Ctrl-C).
 * @param {string} targetDir
 */
async function removeAbandonedStaging(targetDir) {
  const prefix = `${path.basename(targetDir)}.`;
  for (const name of await fsp.readdir(path.dirname(targetDir))) {
    const match = /^(?:partial|work)-(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length));
    if (name.startsWith(prefix) && match && !isAlive(Number(match[1]))) {
      await fsp.rm(path.join(path.dirname(targetDir), name), { recursive: true, force: true });
    }
  }
}

/** @param {(line: string) => void} log */
async function ensureKafkaFetched(log) {
  await ensureCached(kafkaCacheDir(), `Kafka ${KAFKA_VERSION}`, async (stagingDir, workDir) => {
    const pom = (await fsp.readFile(path.join(TEMPLATE_DIR, 'pom.xml'), 'utf8')).replaceAll('@KAFKA_VERSION@', KAFKA_VERSION);
    await fsp.writeFile(path.join(workDir, 'pom.xml'), pom);
    await mvn(
      [`${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${path.join(stagingDir, 'libs')}`],
      workDir,
      `Kafka ${KAFKA_VERSION}`,
    );
  }, log);
}

/** @param {(line: string) => void} log */
async function ensureRegistryFetched(log) {
  await ensureCached(registryCacheDir(), `Apicurio Registry ${REGISTRY_VERSION}`, async (stagingDir, workDir) => {
    // Run in workDir: without a project, unpack writes its marker files relative to the cwd.
    await mvn(
      [`${DEPENDENCY_PLUGIN}:unpack`, `-Dartifact=${REGISTRY_ARTIFACT}`, `-DoutputDirectory=${stagingDir}`,
        `-DmarkersDirectory=${path.join(workDir, 'markers')}`],
      workDir,
      `Apicurio Registry ${REGISTRY_VERSION} (${REGISTRY_ARTIFACT})`,
    );
  }, log);
}

/** @returns {string} the jar that starts the registry (the 2.x archive: <name>-runner.jar + lib/) */
function registryRunnerJar() {
  const dir = registryCacheDir();
  const runner = fs.readdirSync(dir).find((name) => name.endsWith('-runner.jar'));
  if (!runner) throw new StackError('START_FAILED', `no *-runner.jar in ${dir}; delete that directory to fetch it again`);
  return path.join(dir, runner);
}

// ---------------------------------------------------------------------------------------------
// Processes: pid files plus a check that the pid really is a JVM this checkout started.

/** @param {Component} component */
const pidFile = (component) => path.join(component === 'kafka' ? KAFKA_DIR : REGISTRY_DIR, `${component}.pid`);
/** @param {Component} component */
const logFile = (component) => path.join(component === 'kafka' ? KAFKA_DIR : REGISTRY_DIR, `${component}.log`);
/** @param {Component} component */
const componentMarker = (component) => `-Dfindings-ledger.component=${component}`;
const registryUnavailableFile = () => path.join(REGISTRY_DIR, 'unavailable.json');

/** @param {number} pid */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrnoException(error) && error.code === 'EPERM';
  }
}

/** @param {number} pid @returns {string[] | null} null where /proc is not available */
function commandLine(pid) {
  if (!exists('/proc/self/cmdline')) return null;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/**
 * @param {number} pid
 * @param {Component} component
 */
function isOurProcess(pid, component) {
  if (!isAlive(pid)) return false;
  const args = commandLine(pid);
  if (args === null) return true;
  return args.includes(OWNER_FLAG) && args.includes(componentMarker(component));
}

/** @param {Component} component @returns {number | null} */
function findOurProcessInProc(component) {
  if (!exists('/proc/self/cmdline')) return null;
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid !== process.pid && isOurProcess(pid, component)) return pid;
  }
  return null;
}

/** @param {Component} component @returns {number | null} the pid of our running JVM */
function runningPid(component) {
  try {
    const pid = Number(fs.readFileSync(pidFile(component), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isOurProcess(pid, component)) return pid;
  } catch {
    // no pid file: fall through to the /proc scan
  }
  // A pid file lost (or a stale one) must not hide a JVM that still holds the ports.
  const found = findOurProcessInProc(component);
  if (found !== null && exists(path.dirname(pidFile(component)))) fs.writeFileSync(pidFile(component), `${found}\n`);
  return found;
}

/**
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function isPortFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * @param {number} port
 * @param {string} purpose
 * @param {string} environmentVariable how to use whatever holds the port instead
 */
async function requirePortFree(port, purpose, environmentVariable) {
  if (!(await isPortFree(port))) {
    throw new StackError('PORT_TAKEN', `port ${HOST}:${port} (${purpose}) is in use by a process this script did not start; stop it, or set ${environmentVariable} to use that server`);
  }
}

/** Keeps the previous run's log next to the new one. @param {string} file */
async function rotateLog(file) {
  if (exists(file)) await fsp.rename(file, `${file}.1`);
}

/**
 * Starts a JVM detached from this process, stdout and stderr into its log file.
 * @param {Component} component
 * @param {string[]} jvmArgs
 * @returns {Promise<number>} pid
 */
async function startDetachedJvm(component, jvmArgs) {
  await rotateLog(logFile(component));
  const out = fs.openSync(logFile(component), 'a');
  try {
    const child = spawn(javaBinary(), [OWNER_FLAG, componentMarker(component), ...jvmArgs], {
      cwd: path.dirname(logFile(component)),
      detached: true,
      stdio: ['ignore', out, out],
    });
    const pid = await new Promise((resolve, reject) => {
      child.once('error', (error) => reject(isErrnoException(error) && error.code === 'ENOENT'
        ? new StackError('JAVA_MISSING', `java not found (${javaBinary()}): install a JDK 17+ or set JAVA_HOME`)
        : error));
      child.once('spawn', () => resolve(child.pid));
    });
    child.unref();
    await fsp.writeFile(pidFile(component), `${pid}\n`);
    return pid;
  } finally {
    fs.closeSync(out);
  }
}

/**
 * Stops one of our JVMs: SIGTERM, a grace period, then SIGKILL.
 * @param {Component} component
 * @returns {Promise<'stopped' | 'not-running'>}
 */
async function stopComponent(component) {
  const pid = runningPid(component);
  if (pid === null) {
    await fsp.rm(pidFile(component), { force: true });
    return 'not-running';
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (isOurProcess(pid, component) && Date.now() < deadline) await sleep(POLL_MS);
  if (isOurProcess(pid, component)) {
    process.kill(pid, 'SIGKILL');
    while (isOurProcess(pid, component)) await sleep(100);
  }
  await fsp.rm(pidFile(component), { force: true });
  return 'stopped';
}

/**
 * Polls `probe` until it succeeds; fails fast if the JVM exits, and after the start timeout.
 * @param {Component} component
 * @param {number} pid
 * @param {string} address
 * @param {() => Promise<boolean>} probe
 */
async function waitUntilAnswering(component, pid, address, probe) {
  const timeoutMs = startTimeoutMs();
  const deadline = Date.now() + timeoutMs;
  const log = relativeToRepo(logFile(component));
  for (;;) {
    if (await probe()) return;
    if (!isOurProcess(pid, component)) {
      await fsp.rm(pidFile(component), { force: true });
      throw new StackError('START_FAILED', `${component} exited during start-up; see ${log}`);
    }
    if (Date.now() > deadline) {
      await stopComponent(component);
      throw new StackError('START_TIMEOUT', `${component} did not answer on ${address} within ${seconds(timeoutMs)} (stopped it); see ${log}`);
    }
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Kafka

/** @returns {Promise<boolean>} true when the broker answers describeCluster and a metadata call */
async function kafkaAnswers() {
  const admin = new Kafka({
    clientId: 'findings-ledger-stack',
    brokers: [KAFKA_BROKERS],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) return false;
    await admin.fetchTopicMetadata();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Kafka's own random cluster id format: 16 random bytes, base64url, never starting with '-'. */
function newClusterId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * @param {string} template file name in scripts/kafka/
 * @param {Record<string, string>} values
 * @param {string} target
 */
async function renderTemplate(template, values, target) {
  let text = await fsp.readFile(path.join(TEMPLATE_DIR, template), 'utf8');
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`@${name}@`, value);
  await fsp.writeFile(target, text);
}

function jvmOptionsFromEnv() {
  const heap = process.env.KAFKA_HEAP_OPTS?.trim();
  const extra = process.env.KAFKA_OPTS?.trim();
  return { heap: heap ? heap.split(/\s+/) : null, extra: extra ? extra.split(/\s+/) : [] };
}

/**
 * Formats the KRaft metadata directory once; StorageTool calls exit, so it gets its own JVM.
 * @param {string} serverProperties
 * @param {string} dataDir
 */
async function formatKafkaStorage(serverProperties, dataDir) {
  if (exists(path.join(dataDir, 'meta.properties'))) return;
  const clusterIdFile = path.join(KAFKA_DIR, 'cluster-id');
  const clusterId = exists(clusterIdFile) ? (await fsp.readFile(clusterIdFile, 'utf8')).trim() : newClusterId();
  await fsp.writeFile(clusterIdFile, `${clusterId}\n`);
  const result = await run(javaBinary(), [
    `-Dlog4j.configuration=${pathToFileURL(path.join(TEMPLATE_DIR, 'tools-log4j.properties')).href}`,
    '-cp', kafkaClasspath(), 'kafka.tools.StorageTool',
    'format', '-t', clusterId, '-c', serverProperties, '--ignore-formatted',
  ]);
  if (result.code !== 0) {
    throw new StackError('START_FAILED', `formatting Kafka storage in ${relativeToRepo(dataDir)} failed: ${explainingLine(result.output)}`);
  }
}

/**
 * @param {(line: string) => void} log
 * @returns {Promise<ComponentUpResult>}
 */
async function startKafka(log) {
  const startedAt = Date.now();
  const existing = runningPid('kafka');
  if (existing !== null) {
    await waitUntilAnswering('kafka', existing, KAFKA_BROKERS, kafkaAnswers);
    log(`kafka: already running (pid ${existing}, ${KAFKA_BROKERS})`);
    return { state: 'already-running', pid: existing, address: KAFKA_BROKERS, elapsedMs: Date.now() - startedAt };
  }
  await requireJava(11, `Kafka ${KAFKA_VERSION}`);
  await requirePortFree(KAFKA_PORT, 'Kafka broker', 'KAFKA_BROKERS');
  await requirePortFree(CONTROLLER_PORT, 'Kafka controller', 'KAFKA_BROKERS');
  await ensureKafkaFetched(log);

  const dataDir = path.join(KAFKA_DIR, 'data');
  const serverProperties = path.join(KAFKA_DIR, 'server.properties');
  const log4jProperties = path.join(KAFKA_DIR, 'log4j.properties');
  await fsp.mkdir(dataDir, { recursive: true });
  await renderTemplate('server.properties', {
    BROKER_PORT: String(KAFKA_PORT), CONTROLLER_PORT: String(CONTROLLER_PORT), DATA_DIR: dataDir,
  }, serverProperties);
  await renderTemplate('log4j.properties', {}, log4jProperties);
  await formatKafkaStorage(serverProperties, dataDir);

  const { heap, extra } = jvmOptionsFromEnv();
  const pid = await startDetachedJvm('kafka', [
    ...(heap ?? ['-Xms256m', '-Xmx768m']),
    '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true',
    `-Dlog4j.configuration=${pathToFileURL(log4jProperties).href}`,
    ...extra,
    '-cp', kafkaClasspath(), 'kafka.Kafka', serverProperties,
  ]);
  await waitUntilAnswering('kafka', pid, KAFKA_BROKERS, kafkaAnswers);
  const elapsedMs = Date.now() - startedAt;
  log(`kafka: started in ${seconds(elapsedMs)} (pid ${pid}, ${KAFKA_BROKERS}, log ${relativeToRepo(logFile('kafka'))})`);
  return { state: 'started', pid, address: KAFKA_BROKERS, elapsedMs };
}

// ---------------------------------------------------------------------------------------------
// Apicurio Registry

async function registryAnswers() {
  try {
    const response = await fetch(`${SCHEMA_REGISTRY_URL}/subjects`, { signal: AbortSignal.timeout(3000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * @param {(line: string) => void} log
 * @returns {Promise<ComponentUpResult>}
 */
async function startRegistry(log) {
  const startedAt = Date.now();
  const existing = runningPid('registry');
  if (existing !== null) {
    await waitUntilAnswering('registry', existing, SCHEMA_REGISTRY_URL, registryAnswers);
    log(`registry: already running (pid ${existing}, ${SCHEMA_REGISTRY_URL})`);
    return { state: 'already-running', pid: existing, address: SCHEMA_REGISTRY_URL, elapsedMs: Date.now() - startedAt };
  }
  // Quarkus 3.15, which Apicurio 2.6 is built on, needs Java 17.
  await requireJava(17, `Apicurio Registry ${REGISTRY_VERSION}`);
  await requirePortFree(REGISTRY_PORT, 'schema registry', 'SCHEMA_REGISTRY_URL');
  await ensureRegistryFetched(log);
  const pid = await startDetachedJvm('registry', [
    '-Xms128m', '-Xmx512m', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true',
    `-Dquarkus.http.host=${HOST}`, `-Dquarkus.http.port=${REGISTRY_PORT}`,
    // Confluent's default: subjects without their own compatibility level are checked BACKWARD.
    // Subjects registered by @kafkajs/confluent-schema-registry also get a per-subject BACKWARD
    // rule (PUT /config/<subject>), which Apicurio enforces with 409 on its own.
    '-Dregistry.rules.global.compatibility=BACKWARD',
    // Schemas live as long as the broker's data, as Confluent's do in its _schemas topic: the
    // topics hold schema ids, and an in-memory registry would hand the same ids to other schemas
    // after a restart. Apicurio's default storage is H2 in memory; here it is an H2 file.
    `-DREGISTRY_DATASOURCE_URL=jdbc:h2:file:${path.join(REGISTRY_DIR, 'data', 'registry')}`,
    '-jar', registryRunnerJar(),
  ]);
  await waitUntilAnswering('registry', pid, SCHEMA_REGISTRY_URL, registryAnswers);
  const elapsedMs = Date.now() - startedAt;
  log(`registry: started in ${seconds(elapsedMs)} (pid ${pid}, Apicurio ${REGISTRY_VERSION}, ${SCHEMA_REGISTRY_URL}, log ${relativeToRepo(logFile('registry'))})`);
  return { state: 'started', pid, address: SCHEMA_REGISTRY_URL, elapsedMs };
}

/**
 * The registry is optional for `up`: Kafka stays up and `status` says why the registry is not.
 * @param {(line: string) => void} log
 * @returns {Promise<ComponentUpResult>}
 */
async function startRegistryOrExplain(log) {
  try {
    const result = await startRegistry(log);
    await fsp.rm(registryUnavailableFile(), { force: true });
    return result;
  } catch (error) {
    if (!(error instanceof StackError)) throw error;
    await recordRegistryUnavailable(error.code, error.message);
    log(`registry: unavailable: ${error.message}`);
    return { state: 'unavailable', code: error.code, reason: error.message };
  }
}

/**
 * @param {StackErrorCode | 'NOT_REQUESTED'} code
 * @param {string} reason
 */
async function recordRegistryUnavailable(code, reason) {
  await fsp.mkdir(REGISTRY_DIR, { recursive: true });
  await fsp.writeFile(registryUnavailableFile(), `${JSON.stringify({ code, reason, at: new Date().toISOString() })}\n`);
}

// ---------------------------------------------------------------------------------------------
// One up/down at a time per checkout (a test run's global setup may race a developer's `up`).

/** @param {number} pid */
function lockHolderAlive(pid) {
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid);
}

/**
 * @template T
 * @param {() => Promise<T>} action
 * @returns {Promise<T>}
 */
async function withLock(action) {
  await fsp.mkdir(STACK_DIR, { recursive: true });
  const deadline = Date.now() + startTimeoutMs() * 2;
  for (;;) {
    try {
      fs.writeFileSync(LOCK_FILE, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if (!isErrnoException(error) || error.code !== 'EEXIST') throw error;
      const holder = Number(fs.readFileSync(LOCK_FILE, 'utf8').trim());
      if (!lockHolderAlive(holder)) {
        fs.rmSync(LOCK_FILE, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new StackError('LOCK_TIMEOUT', `another stack command (pid ${holder}) holds ${relativeToRepo(LOCK_FILE)}`);
      }
      await sleep(POLL_MS);
    }
  }
  const release = () => fs.rmSync(LOCK_FILE, { force: true });
  process.once('exit', release);
  try {
    return await action();
  } finally {
    process.removeListener('exit', release);
    release();
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/** @param {string} line */
const logToStderr = (line) => process.stderr.write(`stack: ${line}\n`);

/**
 * Starts Kafka and (unless `registry: false`) the registry; already running counts as success.
 * Throws StackError when Kafka cannot be started; a registry that cannot be started is reported
 * in the result (state 'unavailable') and by status().
 * @param {UpOptions} [options]
 * @returns {Promise<UpResult>}
 */
export async function up(options = {}) {
  const log = options.log ?? logToStderr;
  const startedAt = Date.now();
  return withLock(async () => {
    await fsp.mkdir(KAFKA_DIR, { recursive: true });
    await fsp.mkdir(REGISTRY_DIR, { recursive: true });
    // One after the other: on two cores starting both JVMs at once is no faster, and Kafka,
    // which everything needs, answers sooner alone.
    const kafka = await startKafka(log);
    /** @type {ComponentUpResult} */
    let registry = { state: 'skipped' };
    if (options.registry !== false) {
      registry = await startRegistryOrExplain(log);
    } else if (runningPid('registry') === null) {
      await recordRegistryUnavailable('NOT_REQUESTED', 'not started: `up --no-registry`');
    }
    const elapsedMs = Date.now() - startedAt;
    log(`up in ${seconds(elapsedMs)}`);
    return { kafka, registry, elapsedMs };
  });
}

/**
 * Stops the given components (default both, registry first). Not running counts as success.
 * @param {DownOptions} [options]
 * @returns {Promise<DownResult>}
 */
export async function down(options = {}) {
  const log = options.log ?? logToStderr;
  const components = options.components ?? ['registry', 'kafka'];
  return withLock(async () => {
    /** @type {DownResult} */
    const result = {};
    for (const component of /** @type {Component[]} */ (['registry', 'kafka'])) {
      if (!components.includes(component)) continue;
      const startedAt = Date.now();
      const outcome = await stopComponent(component);
      result[component] = outcome;
      log(outcome === 'stopped' ? `${component}: stopped in ${seconds(Date.now() - startedAt)}` : `${component}: not running`);
    }
    return result;
  });
}

/** @returns {Promise<StackStatus>} */
export async function status() {
  const kafkaPid = exists(STACK_DIR) ? runningPid('kafka') : null;
  const registryPid = exists(STACK_DIR) ? runningPid('registry') : null;
  /** @type {ComponentStatus} */
  const registry = {
    running: registryPid !== null, pid: registryPid, address: SCHEMA_REGISTRY_URL,
    version: `apicurio-registry ${REGISTRY_VERSION}`, log: relativeToRepo(logFile('registry')),
  };
  if (registryPid === null) registry.reason = registryNotRunningReason();
  return {
    kafka: {
      running: kafkaPid !== null, pid: kafkaPid, address: KAFKA_BROKERS, controller: `${HOST}:${CONTROLLER_PORT}`,
      version: `kafka ${KAFKA_VERSION}`, log: relativeToRepo(logFile('kafka')),
    },
    registry,
    cache: { dir: cacheDir(), kafkaFetched: isFetched(kafkaCacheDir()), registryFetched: isFetched(registryCacheDir()) },
  };
}

function registryNotRunningReason() {
  try {
    const recorded = JSON.parse(fs.readFileSync(registryUnavailableFile(), 'utf8'));
    if (recorded && typeof recorded.reason === 'string') return recorded.reason;
  } catch {
    // nothing recorded
  }
  return 'not started';
}

/** @returns {{ KAFKA_BROKERS: string, SCHEMA_REGISTRY_URL: string }} */
export function stackEnv() {
  return { KAFKA_BROKERS, SCHEMA_REGISTRY_URL };
}

/**
 * The java command that runs a main class on Kafka's classpath (fetching Kafka first if needed),
 * for callers that want to spawn it themselves.
 * @param {string} mainClass e.g. org.apache.kafka.tools.ProducerPerformance
 * @param {string[]} [args]
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<{ command: string, args: string[] }>}
 */
export async function kafkaClassCommand(mainClass, args = [], options = {}) {
  await requireJava(11, `Kafka ${KAFKA_VERSION}`);
  await ensureKafkaFetched(options.log ?? logToStderr);
  const { heap, extra } = jvmOptionsFromEnv();
  return {
    command: javaBinary(),
    args: [
      ...(heap ?? ['-Xmx512m']),
      `-Dlog4j.configuration=${pathToFileURL(path.join(TEMPLATE_DIR, 'tools-log4j.properties')).href}`,
      ...extra,
      '-cp', kafkaClasspath(), mainClass, ...args,
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

/**
 * @param {string} mainClass
 * @param {string[]} args
 * @returns {Promise<number>} the tool's exit code
 */
async function runKafkaClass(mainClass, args) {
  const { command, args: javaArgs } = await kafkaClassCommand(mainClass, args);
  const child = spawn(command, javaArgs, { stdio: 'inherit' });
  /** @param {NodeJS.Signals} signal */
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
  });
}

const USAGE = 'usage: node scripts/stack.mjs up [--no-registry] | down | status | env | kafka-class <MainClass> [args...]';

/** @param {string[]} argv */
async function main(argv) {
  const [command, ...rest] = argv;
  /** @param {string} line */
  const print = (line) => process.stdout.write(`${line}\n`);
  switch (command) {
    case 'up': {
      const unknown = rest.filter((arg) => arg !== '--no-registry');
      if (unknown.length > 0) throw new StackError('USAGE', `unknown option ${unknown[0]}; ${USAGE}`);
      await up({ registry: !rest.includes('--no-registry'), log: (line) => print(`stack: ${line}`) });
      return 0;
    }
    case 'down':
      await down({ log: (line) => print(`stack: ${line}`) });
      return 0;
    case 'status':
      print(JSON.stringify(await status(), null, 2));
      return 0;
    case 'env':
      for (const [name, value] of Object.entries(stackEnv())) print(`${name}=${value}`);
      return 0;
    case 'kafka-class': {
      const [mainClass, ...args] = rest;
      if (!mainClass) throw new StackError('USAGE', `kafka-class needs a main class; ${USAGE}`);
      return runKafkaClass(mainClass, args);
    }
    default:
      throw new StackError('USAGE', USAGE);
  }
}

function invokedAsScript() {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedAsScript()) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (error) => {
      const message = error instanceof StackError ? error.message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
      process.stderr.write(`stack: ${message}\n`);
      process.exitCode = error instanceof StackError && error.code === 'USAGE' ? 2 : 1;
    },
  );
}
