import Foundation
import Logging
import Synchronization

/// SIGTERM and SIGINT for the daemon's whole life, start-up included, so that no signal falls
/// into a gap between start-up and the service group: the first asks for a graceful stop
/// (`onStop`, or remembered until one is set); a second one ends the process at once through
/// `forceExit` (the executable's to give: nothing below it exits), with 128 + the signal's
/// number as its status, as a death by that signal reads; the running job then resumes from its
/// checkpoint at the next start, as after kill -9.
///
/// Unchecked only for `sources`, which Dispatch does not mark `Sendable`: set in `init`, never
/// touched again (kept to keep the handlers alive); the rest is behind a `Mutex`.
final class ShutdownSignals: @unchecked Sendable {
    private let state = Mutex<(count: Int, onStop: (@Sendable () -> Void)?)>((0, nil))
    private var sources: [DispatchSourceSignal] = []
    /// Signalled on the first stop request, for waits during start-up.
    let stopped = DispatchSemaphore(value: 0)
    let logger: Logger
    private let forceExit: @Sendable (Int32) -> Never

    init(logger: Logger, forceExit: @escaping @Sendable (Int32) -> Never) {
        self.logger = logger
        self.forceExit = forceExit
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.received(number) }
            source.resume()
            return source
        }
    }

    deinit { for source in sources { source.cancel() } }

    var isStopRequested: Bool { state.withLock { $0.count > 0 } }

    /// Sets what a stop request does; runs it at once if one came already.
    func whenStopRequested(_ action: @escaping @Sendable () -> Void) {
        let already = state.withLock { state -> Bool in
            state.onStop = action
            return state.count > 0
        }
        if already { action() }
    }

    private func received(_ number: Int32) {
        let (n, action) = state.withLock { state -> (Int, (@Sendable () -> Void)?) in
            state.count += 1
            return (state.count, state.onStop)
        }
        let name = number == SIGTERM ? "SIGTERM" : "SIGINT"
        if n == 1 {
            logger.notice("\(name): stopping; the running job stops at its next batch and resumes at the next start")
            stopped.signal()
            action?()
        } else {
            logger.warning("\(name) again: exiting now (status \(128 + number)); the running job resumes from its last checkpoint at the next start")
            forceExit(128 + number)
        }
    }
}
