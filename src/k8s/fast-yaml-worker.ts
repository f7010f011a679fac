// The worker thread of fastDocuments (fast-yaml.ts): reads the documents it is given.
import { answerBeside } from "../util/beside.js";
import { readDocuments } from "./fast-yaml.js";

answerBeside((chunks: string[]) => ({ value: readDocuments(chunks) }));
