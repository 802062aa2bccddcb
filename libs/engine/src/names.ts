import { randomBytes, randomInt } from 'node:crypto';
import { E } from '@conga/common';

// docker's pattern but one character is enough (`--name s` is a name users type).
const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Validate a user-given container name (docker's rule); returns it without a leading "/". */
export function validateName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw E.InvalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.replace(/^\//, '');
}

const LEFT = ['agile', 'brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble', 'proud', 'quick', 'silly', 'swift', 'tender', 'vivid', 'witty', 'zesty'];
const RIGHT = ['ant', 'bee', 'cricket', 'dragonfly', 'earwig', 'firefly', 'gnat', 'hornet', 'katydid', 'ladybug', 'mantis', 'moth', 'termite', 'wasp', 'weevil', 'cicada', 'beetle', 'locust', 'mayfly', 'midge'];

/** A docker-like random name, e.g. "swift_mantis". */
export function randomName(attempt = 0): string {
  const base = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
  return attempt > 0 ? `${base}${randomInt(10)}${attempt}` : base;
}

/** A new 64-hex container id. */
export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}
