import TestSupport
import XCTest
import Foundation
@testable import Kernels

final class ParallelismTests: XCTestCase {
    func test_range_whenCountDoesNotDivide_coversEveryIndexOnceInOrder() {
        for count in [1, 2, 7, 13, 100] {
            for chunks in 1...min(count, 9) {
                let ranges = (0..<chunks).map { Parallelism.range($0, of: chunks, in: count) }
                XCTAssertEqual(ranges.flatMap { Array($0) }, Array(0..<count), "count \(count) chunks \(chunks)")
                let sizes = ranges.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
            }
        }
    }
}

final class ParallelismEnvironmentTests: XCTestCase {
    func test_fromEnvironment_whenThreadsGiven_usesThem() throws {
        XCTAssertEqual(try Parallelism.fromEnvironment(["AUGERINO_THREADS": "3"]).threads, 3)
        XCTAssertEqual(try Parallelism.fromEnvironment([:]).threads, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertEqual(try Parallelism.fromEnvironment(["AUGERINO_THREADS": "0"]).threads, ProcessInfo.processInfo.activeProcessorCount,
                       "0 means all cores, as daemon.conf's threads = 0 and --threads 0 do")
    }

    func test_fromEnvironment_whenThreadsInvalid_namesTheVariableAndTheRule() {
        for bad in ["-2", "two", "5000", ""] {
            XCTAssertThrowsError(try Parallelism.fromEnvironment(["AUGERINO_THREADS": bad])) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains("AUGERINO_THREADS") && text.contains("whole number"), text)
            }
        }
    }

    func test_forEach_visitsEveryIndexOnce() {
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1000)
        counter.initialize(repeating: 0, count: 1000)
        defer { counter.deallocate() }
        Parallelism(threads: 4).forEach(1000) { counter[$0] += 1 }
        XCTAssertTrue((0..<1000).allSatisfy { counter[$0] == 1 })
    }
}

/// The spinning helpers belong to the work that asks for them: a job of n chunks starts at most
/// n − 1 helpers (the caller takes a share), never the machine's cores by default.
final class SpinningWorkersTests: XCTestCase {
    func test_helpersStartAsJobsNeedThem_andEveryChunkRunsOnce() {
        let workers = SpinningWorkers(maxHelpers: 7)
        XCTAssertEqual(workers.started, 0, "none before the first job")
        for (chunks, helpers) in [(3, 2), (2, 2), (40, 7), (5, 7)] {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: chunks)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0)
            XCTAssertTrue(workers.perform(chunks) { counts[$0] += 1 })
            XCTAssertEqual(Array(counts), Array(repeating: 1, count: chunks), "\(chunks) chunks, each once")
            XCTAssertEqual(workers.started, helpers, "after a job of \(chunks) chunks")
        }
        XCTAssertFalse(SpinningWorkers(maxHelpers: 0).perform(4) { _ in }, "no helpers: the caller uses Dispatch")
    }
}
