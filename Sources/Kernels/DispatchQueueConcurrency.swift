import Dispatch

/// The one place that starts parallel work: the spinning helpers when they are free, else
/// `DispatchQueue.concurrentPerform`; a plain call when there is one chunk.
enum DispatchQueueConcurrency {
    static func perform(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        if SpinningWorkers.shared.perform(count, body) { return }
        // `body` writes disjoint parts of buffers its caller owns and waits for: the kernels'
        // contract (each output computed by one chunk), which the compiler cannot see.
        withoutActuallyEscaping(body) { body in
            let chunks = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { chunks.value($0) }
        }
    }
}

/// A value handed to other threads under a contract the type system cannot state (see the
/// call site); nothing else may use it.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
