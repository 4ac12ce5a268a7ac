import Dispatch

/// The one place that starts threads: `DispatchQueue.concurrentPerform` with `count`
/// iterations, or a plain call when there is one.
enum DispatchQueueConcurrency {
    static func perform(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: count, execute: body) }
    }
}
