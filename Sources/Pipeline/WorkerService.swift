import Foundation
import Synchronization
import Logging
import ServiceLifecycle

/// Runs a `Worker` on a thread of its own. A graceful shutdown asks it to stop at the next
/// batch (the job goes back to the queue); if it has not stopped after `shutdownTimeout`
/// seconds (a long evaluation, say), `run()` returns anyway so the daemon can exit, and the
/// next start resumes the job from its checkpoint.
public struct WorkerService: Service {
    let worker: Worker
    let shutdownTimeout: Double
    let onStopping: @Sendable () -> Void

    public init(worker: Worker, shutdownTimeout: Double, onStopping: @escaping @Sendable () -> Void) {
        (self.worker, self.shutdownTimeout, self.onStopping) = (worker, shutdownTimeout, onStopping)
    }

    public func run() async throws {
        let finished = OnceSignal()
        let worker = self.worker, timeout = shutdownTimeout, onStopping = self.onStopping
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    finished.set(continuation)
                    let thread = Thread {
                        worker.run()
                        finished.fire()
                    }
                    thread.name = "augerino-worker-\(worker.index)"
                    thread.stackSize = 16 << 20
                    thread.start()
                }
            } onGracefulShutdown: {
                onStopping()
                worker.stop()
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { finished.fire() }
            }
        } onCancel: {
            worker.stop()
            finished.fire()
        }
    }
}

/// Resumes a continuation once, whoever fires first.
final class OnceSignal: Sendable {
    private let state = Mutex<(fired: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    func set(_ continuation: CheckedContinuation<Void, Never>) {
        let firedAlready = state.withLock { state -> Bool in
            if state.fired { return true }
            state.continuation = continuation
            return false
        }
        if firedAlready { continuation.resume() }
    }

    func fire() {
        let pending = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.fired = true
            defer { state.continuation = nil }
            return state.continuation
        }
        pending?.resume()
    }
}
