import Foundation
@testable import Invariance
import NN
import XCTest

final class SpreadEstimatorTests: XCTestCase {
    /// sin a / a inverted on [0, π], with its two ends: R = 1 is no spread, R = 0 the whole circle.
    func test_uniformHalfWidth_invertsTheMeanResultantLength() {
        for a in stride(from: 0.05, through: 3.1, by: 0.15) {
            XCTAssertEqual(Double(SpreadEstimator.uniformHalfWidth(meanResultantLength: sin(a) / a)), a, accuracy: 1e-5)
        }
        XCTAssertEqual(SpreadEstimator.uniformHalfWidth(meanResultantLength: 1), 0)
        XCTAssertEqual(SpreadEstimator.uniformHalfWidth(meanResultantLength: 0), .pi)
    }

    /// Angles uniform in ±a about a different direction per group (one across the ±π seam) read
    /// as spread a, however far apart the groups' directions lie; pooled variance likewise
    /// ignores the groups' means.
    func test_groupStatistics_measureTheSpreadAboutEachGroupsOwnCentre() {
        var random = RandomGenerator(seed: 3)
        let a: Float = 0.6
        let groups = (0..<6000).map { $0 % 3 }
        let angles = groups.map { g in remainder(Float(g) * 1.5 + 0.2 + (random.nextFloat() * 2 - 1) * a, 2 * .pi) }
        let r = SpreadEstimator.meanResultantLength(angles, groups: groups)
        XCTAssertEqual(SpreadEstimator.uniformHalfWidth(meanResultantLength: r), a, accuracy: 0.02)
        let shifted = groups.map { g in Float(g) * 10 + (random.nextFloat() * 2 - 1) * a }
        XCTAssertEqual(SpreadEstimator.withinGroupVariance(shifted, groups: groups), Double(a * a) / 3, accuracy: 0.01)
    }

    /// The reader recovers a planted rotation within its class: ±30° planted reads near ±30°,
    /// and none planted reads far below it; nothing here is a weight to tune.
    func test_aPlantedRotation_isReadBackWithinItsClass() throws {
        func read(halfWidth: Float) throws -> Float {
            var random = RandomGenerator(seed: 11)
            let reader = SpreadEstimator(channels: 1, height: 16, width: 16, groups: 2, estimated: [.rotation], readerWidth: 4, random: &random)
            let estimate = try reader.estimate(train: uprightOrUpsideDown(count: 256, size: 16, halfWidth: halfWidth, seed: 1),
                                               heldOut: uprightOrUpsideDown(count: 300, size: 16, halfWidth: halfWidth, seed: 2),
                                               group: SpreadEstimator.grouping(task: .classification(classes: 2), reference: []),
                                               epochs: 16, batchSize: 32, learningRate: 0.003, random: &random)
            return estimate.widths[.rotation]! / 2
        }
        let planted = Float.pi / 6
        let thirty = try read(halfWidth: planted), none = try read(halfWidth: 0)
        print("read ±\(thirty * 180 / .pi)° for ±30° planted, ±\(none * 180 / .pi)° for none")
        XCTAssertEqual(thirty, planted, accuracy: 0.15 * planted, "±30° planted reads ±\(thirty * 180 / .pi)°")
        XCTAssertLessThan(none, planted / 3, "nothing planted reads ±\(none * 180 / .pi)°")
    }

    /// The spread objective reads the widths before the first epoch and then holds them: the
    /// network trains, the widths do not move.
    func test_theSpreadObjective_setsTheWidthsFromTheReadingAndHoldsThem() throws {
        var settings = TrainingSettings()
        (settings.epochs, settings.batchSize, settings.objective, settings.seed) = (2, 32, .spread, 3)
        let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 16, inputChannels: 144, outputs: 2, depth: 1),
                                        augmentation: AffineAugmentation(learned: [.rotation, .translateX]), task: .classification(classes: 2),
                                        settings: settings)
        trainer.spreadReaderSteps = 16
        let data = uprightOrUpsideDown(count: 64, halfWidth: .pi / 6, seed: 4)
        let before = trainer.network.parameters.map(\.tensor.values)
        _ = try trainer.trainEpoch(data, test: data)
        let estimate = try XCTUnwrap(trainer.spreadEstimate, "the first epoch reads the spread")
        let first = trainer.augmentation.widthValues
        for generator in [AffineGenerator.rotation, .translateX] {
            XCTAssertEqual(first[generator]!, max(estimate.widths[generator]!, 1e-6), accuracy: 1e-4, "\(generator) is the reading")
        }
        XCTAssertEqual(first[.scale], 0, "a generator not learned stays at 0")
        _ = try trainer.trainEpoch(data, test: data)
        XCTAssertEqual(trainer.augmentation.widthValues, first, "the widths are held")
        XCTAssertNotEqual(trainer.network.parameters.map(\.tensor.values), before, "the network trains")
    }
}
