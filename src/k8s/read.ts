// The control plane's front door: manifest paths in, a validated ServiceModel out.
import type { Logger } from "pino";
import { ValidationError } from "../errors.js";
import { log as defaultLog } from "../log.js";
import { buildModel } from "../model/build.js";
import { conflictIssues } from "../model/conflicts.js";
import type { ServiceModel } from "../model/types.js";
import { readManifests, type SourceObject } from "./documents.js";
import { InputReader, type InputLimits } from "./input.js";
import { sortObjects, type ClusterObjects } from "./objects.js";

export interface ReadOptions {
  /** Keep only these `ns/name` Services (and their endpoints). */
  services?: string[];
  /** Size and time bounds of the reads (default: DEFAULT_INPUT_LIMITS). */
  input?: InputLimits;
  log?: Logger;
}

/** Reads and validates; throws ValidationError listing every problem of every file at once. */
export function readObjects(paths: string[], opts: ReadOptions = {}): ClusterObjects {
  return checkObjects(readManifests(paths, new InputReader(opts.input)), opts);
}

/** Validates parsed manifests (readObjects without the files). */
export function checkObjects(sources: SourceObject[], opts: ReadOptions = {}): ClusterObjects {
  const objects = sortObjects(sources, opts.log ?? defaultLog);
  if (objects.issues.length > 0) throw new ValidationError(objects.issues);
  const keep = opts.services && new Set(opts.services);
  if (!keep) return objects;
  const named = (o: { metadata?: { namespace?: string; name?: string } }) =>
    `${o.metadata?.namespace ?? "default"}/${o.metadata?.name ?? ""}`;
  return { ...objects, services: objects.services.filter((s) => keep.has(named(s))) };
}

/** Reads, validates and builds the model; frontend conflicts and too-small Maglev tables are errors too. */
export function readModel(paths: string[], opts: ReadOptions = {}): ServiceModel {
  return modelOf(readObjects(paths, opts), opts);
}

/** The model of validated objects (readModel without the files). */
export function modelOf(objects: ClusterObjects, opts: ReadOptions = {}): ServiceModel {
  const model = buildModel(objects, opts.log ?? defaultLog);
  const issues = conflictIssues(objects, model);
  if (issues.length > 0) throw new ValidationError(issues);
  return model;
}
