import Dispatch

/// The one place that starts parallel work: the spinning helpers when they are free, else
/// `DispatchQueue.concurrentPerform`; a plain call when there is one chunk.
enum DispatchQueueConcurrency {
    static func perform(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        if SpinningWorkers.shared.perform(count, body) { return }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}
