// A worker thread of src/frameWorkers.ts: the model loaded once, then one frame at a time, coded in this thread.
import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from './cli.ts';
import { FramesHere, Models } from './frames.ts';
import type { FrameJob, FrameReply, FrameSetup } from './frameWorkers.ts';

const { model, modelOptions, coding, limits } = workerData.data as FrameSetup;
const frames = new FramesHere(new Models(model, modelOptions), coding, limits);
const port = parentPort!;
const send = (reply: FrameReply) => port.postMessage(reply);

port.on('message', async (job: FrameJob) => {
  // progress at most every 50 ms: a frame has thousands of steps
  let shown = 0;
  const progress = (done: number) => {
    const now = Date.now();
    if (now - shown < 50) return;
    shown = now;
    send({ progress: done });
  };
  try {
    send({ result: job.type === 'encode' ? await frames.encode(job.block, job.place, job.only, progress) : await frames.decode(job.record, progress) });
  } catch (err) {
    send({ error: (err as Error).message, name: (err as Error).name, user: err instanceof UserError });
  }
});
