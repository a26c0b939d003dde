// @ts-check
// Installs the Debian tools the tests use as independent clients, when missing:
// kcat (a Kafka client that is not kafkajs) and prometheus (a real scraper, and promtool).
// Runs before `npm test`; as root with apt it installs, otherwise it says what is missing.
import { execFileSync, spawnSync } from 'node:child_process';

const wanted = [
  { command: 'kcat', pkg: 'kcat' },
  { command: 'promtool', pkg: 'prometheus' },
];
const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const missing = wanted.filter((w) => !has(w.command));
if (missing.length === 0) process.exit(0);
const pkgs = missing.map((m) => m.pkg);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot || !has('apt-get')) {
  console.error(`system-deps: missing ${pkgs.join(', ')}; install them with apt-get (tests that need them will fail)`);
  process.exit(0);
}
console.error(`system-deps: installing ${pkgs.join(', ')} from Debian`);
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
} catch {
  console.error(`system-deps: apt-get could not install ${pkgs.join(', ')}`);
  process.exit(1);
}
