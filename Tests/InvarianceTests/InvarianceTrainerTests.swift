import Foundation
import TestSupport
import XCTest
@testable import Invariance
@testable import NN

final class InvarianceTrainerTests: XCTestCase {
    /// 8x8 images of a centred disc, bright (class 1) or dim (class 0), with a little noise:
    /// rotating them changes nothing that matters, so the reward should widen the rotation.
    func discs(count: Int, seed: UInt64) -> ImageDataset {
        var random = RandomGenerator(seed: seed)
        var images: [Float] = [], labels: [Float] = []
        for _ in 0..<count {
            let label = random.nextInt(below: 2)
            for row in 0..<8 {
                for col in 0..<8 {
                    let (dy, dx) = (Float(row) - 3.5, Float(col) - 3.5)
                    let inside: Float = dx * dx + dy * dy < 9 ? 1 : 0
                    images.append(inside * (label == 1 ? 1.0 : 0.3) + random.nextFloat(in: -0.05..<0.05))
                }
            }
            labels.append(Float(label))
        }
        return ImageDataset(images: images, channels: 1, height: 8, width: 8, targets: labels)
    }

    func makeTrainer(seed: UInt64 = 1, regularization: Float = 0.5, schedule: ScheduleKind = .constant) -> InvarianceTrainer {
        var settings = TrainingSettings()
        settings.objective = .reward
        settings.schedule = schedule
        settings.epochs = 3
        settings.batchSize = 16
        settings.learningRate = 0.02
        settings.regularization = regularization
        settings.testCopies = 2
        settings.seed = seed
        return InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 16, inputChannels: 64, outputs: 2, depth: 1),
                                 augmentation: AffineAugmentation(learned: [.rotation], initialWidths: [.rotation: 0.2]),
                                 task: .classification(classes: 2), settings: settings)
    }

    /// The training loop's plumbing: progress per batch, the history, a task learned, the
    /// reward moving a width, unlearned generators held at 0. Whether the method finds the
    /// *right* width is for the tests that the reward alone cannot pass
    /// (PlantedTransformationTests: shape against angle labels, the upright-or-upside-down T).
    func test_training_learnsTheTask_andTheRewardMovesAWidth() throws {
        let trainer = makeTrainer()
        let train = discs(count: 64, seed: 2), test = discs(count: 32, seed: 3)
        var calls = 0
        for _ in 0..<6 { _ = try trainer.trainEpoch(train, test: test) { _, _ in calls += 1 } }
        XCTAssertEqual(calls, 6 * 4, "progress after every batch")
        XCTAssertEqual(trainer.history.count, 6)
        XCTAssertGreaterThan(trainer.history.last!.testMetric!, 0.9, "bright and dim discs are told apart")
        XCTAssertGreaterThan(trainer.history.last!.theta["rotation"]!, 0.27, "the reward moved the rotation's width from 0.2")
        XCTAssertEqual(trainer.history.last!.theta["shear"], 0, "generators that are not learned stay at 0")
        // The epoch's held-out metric is one plain pass (cheap), timed on its own.
        let last = trainer.history.last!
        XCTAssertEqual(last.testMetric, trainer.evaluate(test, copies: 0))
        let evaluation = try XCTUnwrap(last.evaluationSeconds)
        XCTAssertTrue(evaluation > 0 && evaluation < last.seconds, "\(evaluation) s of \(last.seconds) s")
        XCTAssertNil(try trainer.trainEpoch(train).evaluationSeconds, "no held-out data, no evaluation")
    }

    /// The evidence objective with its random draws held fixed is a smooth function of the raw
    /// widths: the tape's gradient (through the warp, the averaging over copies, the head and
    /// the Laplace log-determinant) must match central differences. Classification and regression.
    func test_evidenceObjective_gradientInTheWidths_matchesFiniteDifferences() throws {
        for task in [LearningTask.classification(classes: 2), .regression] {
            var random = RandomGenerator(seed: 3)
            let network = NetworkSpec(architecture: .mlp, width: 6, inputChannels: 64, outputs: task == .regression ? 1 : 2, depth: 1)
                .makeNetwork(random: &random)
            let augmentation = AffineAugmentation(initialWidths: [.rotation: 0.6, .scale: 0.3, .translateX: 0.5])
            let step = EvidenceStep(network: network, augmentation: augmentation, task: task)
            let data = discs(count: 12, seed: 4)
            func objective() -> Double {
                var draws = RandomGenerator(seed: 9)
                return TensorContext.withoutGradients {
                    Double(step.objective(data, indices: ArraySlice(0..<12), trainImages: 100, weightDecay: 1e-3, noiseVariance: 0.3, random: &draws)!.total)
                }
            }
            augmentation.rawWidths.zeroGradient()
            var draws = RandomGenerator(seed: 9)
            let terms = try XCTUnwrap(step.objective(data, indices: ArraySlice(0..<12), trainImages: 100, weightDecay: 1e-3, noiseVariance: 0.3, random: &draws))
            XCTAssertTrue(terms.fit.isFinite && terms.occam.isFinite && terms.total == terms.fit + terms.occam, "\(task): \(terms)")
            let analytic = try XCTUnwrap(augmentation.rawWidths.gradient).values
            for generator in [AffineGenerator.rotation, .scale, .translateX] {
                let i = generator.index, h: Float = 1e-2
                let saved = augmentation.rawWidths.storage.pointer[i]
                augmentation.rawWidths.storage.pointer[i] = saved + h
                let plus = objective()
                augmentation.rawWidths.storage.pointer[i] = saved - h
                let minus = objective()
                augmentation.rawWidths.storage.pointer[i] = saved
                let numeric = (plus - minus) / Double(2 * h)
                XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 2e-3 + 0.05 * abs(numeric), "\(task), ∂/∂w of \(generator)")
            }
            XCTAssertNotEqual(analytic[AffineGenerator.rotation.index], 0, "\(task): the rotation's width moves the objective")
        }
    }

    func test_sameSeed_sameRun_andResumingFromACheckpointIsBitExact() throws {
        for schedule in ScheduleKind.allCases { try resumesBitExactly(schedule) }
    }

    func resumesBitExactly(_ schedule: ScheduleKind) throws {
        let train = discs(count: 40, seed: 4)
        let straight = makeTrainer(seed: 7, schedule: schedule)
        for _ in 0..<3 { _ = try straight.trainEpoch(train) }
        if schedule == .cosine {
            XCTAssertLessThan(straight.optimizer.groups[0].learningRate, 0.02 * 0.05, "annealed towards 0 by the last step")
            XCTAssertEqual(straight.optimizer.groups[1].learningRate, straight.optimizer.groups[0].learningRate, "the widths follow")
        }

        let first = makeTrainer(seed: 7, schedule: schedule)
        _ = try first.trainEpoch(train)
        let folder = try makeScratchFolder("trainer")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("checkpoint.safetensors")
        try first.checkpoint().write(to: url)

        let resumed = makeTrainer(seed: 7, schedule: schedule)
        try resumed.restore(TrainingCheckpoint.read(from: url), source: url.path)
        XCTAssertEqual(resumed.epoch, 1)
        for _ in 0..<2 { _ = try resumed.trainEpoch(train) }
        for ((name, a), (_, b)) in zip(straight.state, resumed.state) { XCTAssertEqual(a.values, b.values, "\(name) after resuming (\(schedule))") }
        XCTAssertEqual(straight.history.map(\.trainLoss), resumed.history.map(\.trainLoss))
    }

    func test_displacementUnits_weighTranslationsByHowLittleTheyMovePoints() throws {
        // RMS of |G·p| over p in [−1, 1]²: 0.1 for a translation (×0.1 generator), √(2/3) for the others.
        XCTAssertEqual(AffineGenerator.translateX.displacement, 0.1 / (2.0 / 3.0).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(AffineGenerator.rotation.displacement, 1)
        // With equal widths, the reward's gradient on a translation is that much smaller.
        func rewardGradient(_ units: RewardUnits) throws -> [Float] {
            var settings = TrainingSettings()
            settings.objective = .reward
            settings.rewardUnits = units
            settings.regularization = 1
            settings.batchSize = 8
            settings.learningRate = 1e-9  // measure the gradient, barely move
            let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 4, inputChannels: 64, outputs: 2, depth: 1),
                                            augmentation: AffineAugmentation(learned: [.translateX, .rotation], initialWidths: [.translateX: 0.5, .rotation: 0.5]),
                                            task: .classification(classes: 2), settings: settings)
            _ = try trainer.trainEpoch(discs(count: 8, seed: 9))
            return trainer.augmentation.rawWidths.gradient!.values
        }
        let parameter = try rewardGradient(.parameter), displacement = try rewardGradient(.displacement)
        XCTAssertLessThan(abs(displacement[0]) / abs(displacement[2]), abs(parameter[0]) / abs(parameter[2]) * 0.5,
                          "translation's share of the reward gradient shrinks: \(parameter) vs \(displacement)")
    }

    func test_regression_reportsMeanSquaredError() throws {
        var settings = TrainingSettings()
        settings.batchSize = 8
        settings.seed = 3
        let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 8, inputChannels: 64, outputs: 1, depth: 1),
                                        augmentation: AffineAugmentation(learned: []), task: .regression, settings: settings)
        let data = discs(count: 24, seed: 5)
        let before = trainer.evaluate(data, copies: 0)
        for _ in 0..<5 { _ = try trainer.trainEpoch(data) }
        XCTAssertLessThan(trainer.evaluate(data, copies: 0), before, "MSE falls while training")
        XCTAssertEqual(trainer.evaluate(data, copies: 0), trainer.evaluate(data, copies: 3), accuracy: 1e-6,
                       "without learned generators the copies are identical")
    }

    func test_rewardCap_switchesTheRewardOffWhileAWidthExceedsIt() throws {
        func rotationAfterAnEpoch(cap: Float?) throws -> Float {
            var settings = TrainingSettings()
            settings.objective = .reward
            settings.batchSize = 8
            settings.regularization = 2
            settings.learningRate = 0.05
            settings.rewardCap = cap
            let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 4, inputChannels: 64, outputs: 2, depth: 1),
                                            augmentation: AffineAugmentation(learned: [.rotation], initialWidths: [.rotation: 0.2]),
                                            task: .classification(classes: 2), settings: settings)
            _ = try trainer.trainEpoch(discs(count: 32, seed: 2))
            return trainer.augmentation.widthValues[.rotation]!
        }
        let free = try rotationAfterAnEpoch(cap: nil), capped = try rotationAfterAnEpoch(cap: 0.1), roomy = try rotationAfterAnEpoch(cap: 100)
        XCTAssertGreaterThan(free, 0.23, "a strong reward widens the rotation (from 0.2)")
        XCTAssertLessThan(capped, free - 0.02, "above the cap the reward is off, and only the task loss moves the width: \(capped)")
        XCTAssertEqual(roomy, free, "a cap never reached changes nothing")
    }

    func test_widthLearningRateZero_freezesTheWidthsAtTheirInitialValues() throws {
        var settings = TrainingSettings()
        settings.batchSize = 8
        settings.regularization = 2
        settings.widthLearningRate = 0
        let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 4, inputChannels: 64, outputs: 2, depth: 1),
                                        augmentation: AffineAugmentation(learned: [.rotation], initialWidths: [.rotation: 2 * .pi]),
                                        task: .classification(classes: 2), settings: settings)
        let before = trainer.network.parameters.map(\.tensor.values)
        _ = try trainer.trainEpoch(discs(count: 32, seed: 2))
        XCTAssertEqual(trainer.augmentation.widthValues[.rotation]!, 2 * .pi, accuracy: 1e-5, "forced full rotation stays")
        XCTAssertNotEqual(trainer.network.parameters.map(\.tensor.values), before, "the network still learns")
        XCTAssertEqual(settings.objective, .spread, "with the default objective, which reads widths otherwise")
        XCTAssertNil(trainer.spreadEstimate, "a forced width is not read over")
    }

    func test_regression_whenTheLossOverflows_stopsWithADivergedError() {
        var settings = TrainingSettings()
        settings.batchSize = 8
        let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 4, inputChannels: 64, outputs: 1, depth: 1),
                                        augmentation: AffineAugmentation(learned: []), task: .regression, settings: settings)
        let data = discs(count: 16, seed: 5)
        let huge = ImageDataset(images: data.images, channels: 1, height: 8, width: 8, targets: data.targets.map { _ in 1e30 })
        XCTAssertThrowsError(try trainer.trainEpoch(huge)) { error in
            guard case InvarianceError.diverged(epoch: 1, batch: 1, _, _)? = error as? InvarianceError else {
                return XCTFail("expected diverged at epoch 1 batch 1, got \(error)")
            }
            XCTAssertTrue("\(error)".contains("lower the learning rate"), "\(error)")
        }
    }
}

final class ModelFileTests: XCTestCase {
    func test_writeThenRead_predictsTheSame_andRejectsOtherFiles() throws {
        var settings = TrainingSettings()
        settings.batchSize = 8
        let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .smallnet, width: 2, inputChannels: 1, outputs: 3),
                                        augmentation: AffineAugmentation(learned: [.rotation, .scale]),
                                        task: .classification(classes: 3), settings: settings)
        var random = RandomGenerator(seed: 1)
        let data = ImageDataset(images: (0..<(12 * 64)).map { _ in random.nextFloat() }, channels: 1, height: 8, width: 8,
                                targets: (0..<12).map { Float($0 % 3) })
        _ = try trainer.trainEpoch(data)
        let folder = try makeScratchFolder("model")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        let model = ModelFile(spec: NetworkSpec(architecture: .smallnet, width: 2, inputChannels: 1, outputs: 3), network: trainer.network,
                              augmentation: trainer.augmentation, task: .classification(classes: 3), classes: ["a", "b", "c"],
                              inputMean: 0.5, inputStd: 0.25, inputShape: [1, 8, 8])
        try model.write(to: url)
        let loaded = try ModelFile.read(from: url)
        XCTAssertEqual(loaded.classes, ["a", "b", "c"])
        XCTAssertEqual(loaded.inputShape, [1, 8, 8])
        XCTAssertEqual(loaded.augmentation.learned, [.rotation, .scale])
        XCTAssertEqual(loaded.augmentation.widthValues, trainer.augmentation.widthValues)
        let x = data.batch(0..<4)
        var r1 = RandomGenerator(seed: 5), r2 = RandomGenerator(seed: 5)
        XCTAssertEqual(model.predictor.predict(x, copies: 3, random: &r1).values, loaded.predictor.predict(x, copies: 3, random: &r2).values)

        let plain = folder.appendingPathComponent("plain.safetensors")
        try SafeTensors(entries: [SafeTensors.Entry(name: "w", shape: [1], values: [1])]).write(to: plain)
        XCTAssertThrowsError(try ModelFile.read(from: plain)) {
            XCTAssertTrue(String(describing: $0).contains("an augerino model has \"augerino.model/1\""), "\($0)")
        }
    }
}

final class ReportAndProbeTests: XCTestCase {
    func test_naturalUnits() {
        let rotation = naturalInterval(.rotation, theta: .pi, height: 28, width: 28)
        XCTAssertEqual(rotation.0[0], -90, accuracy: 1e-4)
        XCTAssertEqual(rotation.0[1], 90, accuracy: 1e-4)
        XCTAssertEqual(rotation.1, "degrees")
        XCTAssertEqual(naturalInterval(.rotation, theta: 37.5, height: 28, width: 28).0, [-180, 180], "a width past 2π is the whole circle")
        let shift = naturalInterval(.translateX, theta: 2, height: 10, width: 28).0
        XCTAssertEqual(shift[1], 1.35, accuracy: 1e-6)
        XCTAssertEqual(naturalInterval(.translateY, theta: 2, height: 10, width: 28).0[1], 0.45, accuracy: 1e-6)
        let scale = naturalInterval(.scale, theta: 2 * log(2), height: 28, width: 28)
        XCTAssertEqual(scale.0[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(scale.0[1], 2, accuracy: 1e-6)
        XCTAssertEqual(scale.1, "factor")
        XCTAssertEqual(naturalInterval(.shear, theta: 1, height: 28, width: 28).0[1], tanh(0.5), accuracy: 1e-6)
    }

    func test_probes_sweepEveryGenerator_andTheUntransformedPointAgreesWithItself() throws {
        var settings = TrainingSettings()
        settings.batchSize = 8
        let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 8, inputChannels: 64, outputs: 2, depth: 1),
                                        augmentation: AffineAugmentation(learned: [.rotation]), task: .classification(classes: 2), settings: settings)
        var random = RandomGenerator(seed: 2)
        let data = ImageDataset(images: (0..<(20 * 64)).map { _ in random.nextFloat() }, channels: 1, height: 8, width: 8,
                                targets: (0..<20).map { Float($0 % 2) })
        _ = try trainer.trainEpoch(data)
        let sweeps = probeInvariances(trainer.predictor, data: data, copies: 2, limit: 12)
        XCTAssertEqual(sweeps.map(\.generator), AffineGenerator.allCases.map(\.rawValue))
        let rotation = sweeps[AffineGenerator.rotation.index]
        XCTAssertEqual(rotation.points.count, 25, "every 15°")
        XCTAssertEqual(rotation.points.first!.natural, -180, accuracy: 1e-3)
        XCTAssertEqual(rotation.images, 12)
        let identity = rotation.points[12]
        XCTAssertEqual(identity.epsilon, 0, accuracy: 1e-6)
        XCTAssertEqual(identity.consistencySingle, 1, "the untransformed inputs give the untransformed predictions")
        XCTAssertEqual(identity.metricSingle, trainer.evaluate(data.prefix(12), copies: 0), accuracy: 1e-9)
    }
}
