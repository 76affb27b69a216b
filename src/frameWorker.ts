// A worker thread of src/frameWorkers.ts: the model loaded once (when a job first needs it), then one job at a time,
// coded in this thread: a block to encode, one of a block's steps, or frames to decode together.
import { parentPort, workerData } from 'node:worker_threads';
import { FramesHere, Models } from './frames.ts';
import { failureOf, type FrameJob, type FrameReply, type FrameSetup } from './frameWorkers.ts';

const { model, modelOptions, coding, limits } = workerData.data as FrameSetup;
const frames = new FramesHere(new Models(model, modelOptions), coding, limits);
const port = parentPort!;
const send = (reply: FrameReply) => port.postMessage(reply);

/** A frame's progress, sent at most every 50 ms: a frame has thousands of steps. */
function progressOf(index: number): (done: number) => void {
  let shown = 0;
  return (done) => {
    const now = Date.now();
    if (now - shown < 50) return;
    shown = now;
    send({ progress: done, index });
  };
}

port.on('message', async (job: FrameJob) => {
  try {
    if (job.type === 'encode') send({ result: await frames.encode(job.block, job.place, job.only, progressOf(0)) });
    else if (job.type === 'classical') send({ result: await frames.steps.classical(job.block, job.place) });
    else if (job.type === 'model') send({ result: await frames.steps.model(job.block, job.place, job.ceiling, progressOf(0)) });
    else if (job.type === 'cm') send({ result: await frames.steps.cm(job.block, job.place, job.ceiling) });
    else send({ results: (await frames.decodeMany(job.records, job.records.map((_, i) => progressOf(i)))).map((bytes) => (bytes instanceof Error ? failureOf(bytes) : bytes)) });
  } catch (err) {
    send(failureOf(err as Error));
  }
});
