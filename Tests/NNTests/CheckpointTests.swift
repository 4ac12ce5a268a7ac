import Foundation
import TestSupport
import XCTest
@testable import NN

final class CheckpointTests: XCTestCase {
    /// A small run: conv net with dropout and batch norm, Adam, random batches.
    final class Run {
        let net: Sequential
        let optimizer: Adam
        var random: RandomGenerator
        var step = 0
        let data: Tensor, labels: [Int32]

        init(seed: UInt64) {
            var random = RandomGenerator(seed: seed)
            net = Sequential([Conv2d(1, 3, kernelSize: 3, padding: 1, random: &random), BatchNorm2d(3), ReLU(), Dropout2d(0.3),
                              MaxPool2d(2), Flatten(), Linear(12, 3, random: &random)])
            optimizer = Adam([ParameterGroup(net.parameters.map(\.tensor), learningRate: 0.01, weightDecay: 1e-3)])
            var dataRandom = RandomGenerator(seed: 99)
            data = Tensor(shape: [16, 1, 4, 4], values: (0..<256).map { _ in dataRandom.nextFloat(in: -1..<1) })
            labels = (0..<16).map { _ in Int32(dataRandom.nextInt(below: 3)) }
            self.random = random.stream(1)
        }

        func train(steps: Int) {
            for _ in 0..<steps {
                let order = random.permutation(16).prefix(8)
                let batch = Tensor.concatenate(order.map { data.slice($0..<($0 + 1)) })
                let loss = Tensor.crossEntropy(net(batch, random: &random), labels: order.map { labels[$0] })
                optimizer.zeroGradients()
                loss.backward()
                optimizer.step()
                step += 1
            }
        }

        var stateNames: [(name: String, tensor: Tensor)] { net.stateDictionary }
    }

    func test_resumingFromACheckpoint_givesBitwiseTheSameParametersAsAnUninterruptedRun() throws {
        let folder = try makeScratchFolder("checkpoint")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("checkpoint.safetensors")

        let straight = Run(seed: 5)
        straight.train(steps: 7)

        let first = Run(seed: 5)
        first.train(steps: 4)
        try TrainingCheckpoint(state: first.stateNames, optimizer: first.optimizer, epoch: 1, step: first.step,
                               random: first.random, metadata: ["run": "test"]).write(to: url)

        let resumed = Run(seed: 12345)  // different initial values: everything must come from the file
        let checkpoint = try TrainingCheckpoint.read(from: url)
        XCTAssertEqual(checkpoint.epoch, 1)
        XCTAssertEqual(checkpoint.metadata, ["run": "test"])
        try checkpoint.restore(into: resumed.stateNames, optimizer: resumed.optimizer, source: url.path)
        resumed.random = checkpoint.random
        resumed.step = checkpoint.step
        resumed.train(steps: 3)

        for ((name, a), (_, b)) in zip(straight.stateNames, resumed.stateNames) {
            XCTAssertEqual(a.values, b.values, "\(name) differs after resuming")
        }
        XCTAssertNotEqual(straight.stateNames[0].tensor.values, Run(seed: 5).stateNames[0].tensor.values, "training changed the weights")
    }

    func test_read_whenNotACheckpoint_namesTheRule() throws {
        let folder = try makeScratchFolder("checkpoint")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        try SafeTensors(entries: [SafeTensors.Entry(name: "w", shape: [1], values: [1])]).write(to: url)
        XCTAssertThrowsError(try TrainingCheckpoint.read(from: url)) {
            XCTAssertTrue(String(describing: $0).contains("metadata \"format\" is missing"), String(describing: $0))
        }
    }
}
