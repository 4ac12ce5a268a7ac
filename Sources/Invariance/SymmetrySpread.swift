import Foundation
import NN

/// The spread objective's reading of mirrors and quarter turns: how often, within a class, an
/// image is the mirror (or the transpose) of the class's common form. Each image's orientation
/// is the symmetry that brings it nearest its class's template, each symmetry at its nearest
/// turn within the class's own range (`turnRange`: a turned image is compared with its class's
/// form turned as far); the template starts from the class's exemplar (the image the others
/// come nearest, each in its best orientation, so a class half of whose images are mirrored
/// still has one form to be read against), then is the mean of the images each in its
/// orientation and turned back, a few times over, set in the middle of the class's turns; the
/// class's range is then its turns' 90th percentile and a step (`classTurns`).
///
/// Per family, an image *shows* its orientation when the best orientation with the family
/// applied and the best without it differ by more than `margin` of the nearer distance (a
/// symmetric image, a 0 or a T-shirt, looks the same mirrored and says nothing). Among the
/// images of a class that show it, the share in the class's less common orientation is that
/// class's rate: ½ when it holds as many mirror images as not, 0 when none.
///
/// One probability serves every class, so it is what every class allows: ½ when every class
/// could be half mirrored (a χ² test of the counts against ½, 95%: the less common half of a
/// sample is a little under half by chance); else, when the classes' rates agree (a χ² test of
/// one common rate, 95%), their pooled rate; when they differ, the rate of the strictest class:
/// the one whose upper bound (Wilson's, one-sided 95%) is smallest. A class whose shapes mirror
/// into one another (MNIST's 8s and 9s under a left–right mirror: a slant mirrored is the other
/// slant; 17 of 82 and 24 of 75 in one reading) has a high rate; the 1s and 3s have none (0 of
/// 106, 0 of 104), a mirrored 3 is not a 3, and the mirror reads none. The class's own rate, not its bound: p sets how often training mirrors images,
/// and a bound errs the harmful way (digits turned part of the way, with one or two images of
/// 60 misread, read p 0.05–0.08 by the bound). When almost no image shows its orientation, the
/// images look the same mirrored, and the mirror reads ½. Only classes with one form are read
/// (`oneForm`), and a mirror whose resamples reach below `none` reads 0: it is applied only
/// when the reading is sure of it.
public struct SymmetrySpread {
    /// What the reading found, per family read.
    public struct Estimate: Sendable, Equatable {
        /// p ∈ [0, ½]: the probability the augmentation holds.
        public var probabilities: [SymmetryFamily: Float] = [:]
        /// The less common orientation's share among the images that show it, pooled over the classes.
        public var pooled: [SymmetryFamily: Float] = [:]
        /// Whether the classes' rates agree with one common rate (then p is the pooled rate).
        public var classesAgree: [SymmetryFamily: Bool] = [:]
        /// The share of the images read that show their orientation along the family.
        public var shown: [SymmetryFamily: Float] = [:]
        /// The 5th to the 95th percentile of p over resamples of the images read.
        public var bands: [SymmetryFamily: ClosedRange<Float>] = [:]
        /// Per class: its images' mean distance to its form (each in its orientation and turn)
        /// over their mean distance to the whole set's form (`oneForm`).
        public var formFits: [Int: Float] = [:]
        /// True when no class has one form (`oneForm`): every family read is then none, unread.
        public var noOneForm = false
    }

    public var families: Set<SymmetryFamily>
    /// Gaussian blur of the images compared, standard deviation in pixels: the alignment's
    /// coarsest level. On Fashion-MNIST half mirrored (read before any alignment, the first
    /// design), 1 px left each garment's own offset mirrored in some of the images not undone
    /// (their translation read ±2.4 px against the source's ±2.0 px); 2 px read ±2.0 px and the
    /// mirror the same (docs/performance.md).
    public var blur: Float = 2
    /// How much nearer one orientation must bring an image than the other, as a fraction of the
    /// nearer squared distance, for the image to show its orientation.
    public var margin: Float = 0.1
    /// Turns tried with each orientation, within ±`turnRange` every `turnStep` (radians): an image
    /// turned part of the way round is compared with its class's form turned as far. Its mirror
    /// is the form's mirror turned the other way; read without the turns, a sprite turned by 40°
    /// could fit its class's template (a blend of the turns) better mirrored, and the two-sprite
    /// example (turned within ±45°, none mirrored) read p 0.10–0.11. A quarter turn at most: the
    /// half and quarter turns are symmetries too (the transpose and a mirror make one), and with
    /// a wider range an image turned 50° would be as near a quarter turn turned back 40°.
    public var turnRange: Float = .pi / 4
    /// 7.5°: at 2 px of blur, a step moves the edge of a 28-pixel image by under 2 px. 0: no turns.
    public var turnStep: Float = 7.5 * .pi / 180
    /// Nor does it show its orientation when the two differ by less than this share of the
    /// image's own squared values: a shape that looks the same mirrored, met by its class's
    /// form up to its noise, would show one by the noise alone. On real images the margin is
    /// the larger: MNIST's and Fashion-MNIST's distances to their forms are 10–11% of their
    /// values' for the median image and 1.4% at the first percentile (blurred, one reading of
    /// each), a tenth of which is above this.
    static let energyFloor: Float = 0.001
    /// Times the template is made again from the images in their orientations.
    public var rounds = 4
    /// Images of a class tried as its exemplar, at most.
    public var exemplarCandidates = 24
    /// Below this share of the images read showing their orientation, the mirror reads ½.
    static let fewShown: Float = 0.05
    /// A class has one form when its images come nearer its form than the whole set's by more
    /// than noise (`Estimate.formFits` at most this); only such classes are read. A class that
    /// mixes shapes (digits labelled by their pose, a regression's decile) is a blur no nearer
    /// its images than the whole set's form, and its images fall to either side of it mirrored
    /// at random (pose-rotation-15 read p 0.25–0.38). Measured (blur 2 px, the benchmark's
    /// cases, two seeds): labels by rotation or translation pose and regression deciles
    /// 0.98–1.02, by shear pose 0.96–1.00 (about 500 and 100 images a class; with 60 a class,
    /// three shapes mixed at random read 0.967–0.992: a class's own template is a little nearer
    /// its few images, each a part of it); MNIST's digits 0.16–0.92 (the 2s stretched by ×1.4
    /// 0.90 and 0.91: at 0.9 they were left out, and with them the one class a vertical mirror
    /// never fits), Fashion-MNIST's garments 0.22–0.90, the sprites 0.01–0.03; MNIST 6s and 9s
    /// turned within ±45° 0.94–0.95 (a 9 is a 6 turned half a turn, one of the symmetries read).
    /// Labels by a digit's size or aspect read 0.19–0.94: a small or a large blob is a form, and
    /// their mirrors are read (a mirror keeps a digit's size; docs/performance.md).
    public static let oneForm: Float = 0.95
    /// A probability below this is "none" (the report's headline reads it so): the images are not
    /// turned to their orientation along that family for the affine reading.
    public static let none: Float = 0.05

    public init(families: Set<SymmetryFamily>) { self.families = families }

    /// Reads `images` ([N, C, H, W], background 0) within `groups`; also returns the symmetry
    /// that turns each image to its class's form along the families read as more than none
    /// (the identity along the others), for the affine generators' alignment, which a class of
    /// mirror images would confuse (`orient`).
    public func read(_ images: [Float], channels c: Int, height h: Int, width w: Int, groups: [Int],
                     random: inout RandomGenerator) -> (estimate: Estimate, orientations: [SymmetryElement]) {
        let n = groups.count
        let read = families.filter { $0.applies(height: h, width: w) }
        guard n > 1, !read.isEmpty else { return (Estimate(), [SymmetryElement](repeating: .identity, count: n)) }
        // The images centred for the reading (`centredOnMass`), and as they are for the way each
        // is turned to its class's form (below).
        let centred = PoseAlignment.blur(Self.centredOnMass(images, channels: c, height: h, width: w), planes: n * c, height: h, width: w, sigma: blur)
        let asTheyAre = PoseAlignment.blur(images, planes: n * c, height: h, width: w, sigma: blur)
        let forms = SymmetryForms(channels: c, height: h, width: w, elements: SymmetryElement.group(generatedBy: read), rounds: rounds, turnStep: turnStep)
        let elements = forms.elements
        let turns = Self.turns(range: turnRange, step: turnStep)
        let members = Dictionary(grouping: 0..<n) { groups[$0] }
        func exemplar(of indices: [Int], stream: UInt64) -> Int {
            forms.exemplar(of: indices, in: centred, candidates: exemplarCandidates, random: random.stream(stream))
        }
        var templates: [Int: (template: [Float], turns: [Float])] = [:], unturnedTemplates: [Int: [Float]] = [:]
        for (g, indices) in members {
            let e = exemplar(of: indices, stream: UInt64(1000 + max(0, g)))
            templates[g] = forms.grown(indices, from: e, turns: turns, in: centred)
            unturnedTemplates[g] = forms.grown(indices, from: e, turns: [0], in: asTheyAre).template
        }
        let whole = forms.grown(Array(0..<n), from: exemplar(of: Array(0..<n), stream: 999), turns: turns, in: centred)
        let wholeForms = forms.forms(whole.template, turns: whole.turns)
        // Each image's reading against its class's template; and its nearest element as it is
        // (unturned, uncentred) against the template grown so, the way the images are turned to
        // their class's form for the affine reading (below).
        let classForms = templates.mapValues { forms.forms($0.template, turns: $0.turns) }
        let unturnedForms = unturnedTemplates.mapValues { forms.forms($0, turns: [0]) }
        let found = (0..<n).map { i in forms.nearest(i, classForms[groups[i]]!, turns: templates[groups[i]]!.turns.count, in: centred) }
        let readings = (0..<n).map { i in
            let (own, found) = (templates[groups[i]]!.turns, found[i])
            let energy = forms.image(i, centred).reduce(Float(0)) { $0 + $1 * $1 }
            var reading = Self.orientation(found.distances, unturned: forms.nearest(i, unturnedForms[groups[i]]!, turns: 1, in: asTheyAre).distances,
                                           elements: elements, families: read, margin: margin, floor: Self.energyFloor * energy)
            // A quarter or half turn (two mirrors together) whose whole turn lies within the
            // class's own turns and two steps is an image turned that far, not mirrored twice:
            // turned MNIST (±30° on its own ±25°) has digits turned 50°, a quarter turn turned
            // back 40°, and read the transpose p 0.06–0.10 as quarter turns.
            let e = elements.firstIndex(of: reading.element)!
            if reading.element != .identity, let angle = reading.element.turnAngle {
                let whole = own[found.turns[e]] - angle
                if abs(atan2(sin(whole), cos(whole))) <= (own.map(abs).max() ?? 0) + 2 * turnStep + 1e-4 { reading.element = .identity }
            }
            return reading
        }
        // Which classes have one form: their images nearer its form than the whole set's (`oneForm`).
        var estimate = Estimate()
        for (g, indices) in members {
            let own = indices.reduce(Float(0)) { $0 + found[$1].distances.min()! }
            let wholeSet = indices.reduce(Float(0)) { $0 + forms.nearest($1, wholeForms, turns: whole.turns.count, in: centred).distances.min()! }
            estimate.formFits[g] = own / max(Float.leastNormalMagnitude, wholeSet)
        }
        let formed = Set(estimate.formFits.filter { $0.value <= Self.oneForm }.keys)
        estimate.noOneForm = formed.isEmpty
        let all = (0..<n).filter { formed.contains(groups[$0]) }
        for family in SymmetryFamily.allCases where read.contains(family) {
            guard !formed.isEmpty else {
                (estimate.probabilities[family], estimate.pooled[family], estimate.classesAgree[family]) = (0, 0, true)
                (estimate.shown[family], estimate.bands[family]) = (0, 0...0)
                continue
            }
            let result = Self.probability(family, images: all, groups: groups, readings: readings)
            estimate.probabilities[family] = result.p
            estimate.pooled[family] = result.pooled
            estimate.classesAgree[family] = result.classesAgree
            estimate.shown[family] = result.shown
            let band = SpreadEstimator.band(images: all.count, random: random.stream(UInt64(2000 + family.index))) { drawn in
                Self.probability(family, images: drawn.map { all[$0] }, groups: groups, readings: readings).p
            }
            estimate.bands[family] = band
            // A mirror is applied only when the reading is sure of it: the 5th percentile of its
            // resamples at least `none`, else it reads 0. Some images of a class with no mirror
            // image are misread (5–10% of MNIST's 3s, 4s and 7s stretched by ×1.4, of
            // Fashion-MNIST's coats turned by ±60°), and the strictest class's rate then stood at
            // 0.054–0.07 with its band reaching down to 0.014 and 0. Mirroring images that are
            // not mirrored changes what they are, so a mirror unsure of is none.
            if band.lowerBound < Self.none { estimate.probabilities[family] = 0 }
        }
        // Each image's way to its class's form along the families seen: every image, whether it
        // shows its orientation or not (a nearly symmetric one is still a little nearer its
        // class's form one way, by its offset and slant, which a mirror would turn the other way
        // and the affine reading take for spread). That is the nearest as it is, against the
        // template grown so: a turn takes up a slant and the centring an offset, and with the
        // nearest turned, half-mirrored Fashion-MNIST read translate_x ±2.2–2.5 px against the
        // source's ±2.0 px.
        let seen = read.filter { (estimate.probabilities[$0] ?? 0) >= Self.none }
        let orientations = readings.indices.map { i in
            formed.contains(groups[i]) ? SymmetryElement(applying: seen.filter(readings[i].unturned.applies)) : .identity
        }
        return (estimate, orientations)
    }

    /// 0 first (of equally near turns, not turning), then ±step, ±2·step, … within ±`range`.
    static func turns(range: Float, step: Float) -> [Float] {
        guard step > 0 else { return [0] }
        let count = Int((range / step + 1e-4).rounded(.down))
        var turns: [Float] = [0]
        for k in stride(from: 1, through: count, by: 1) { turns += [Float(k) * step, -Float(k) * step] }
        return turns
    }

    /// The turns a class's images are read with, of `turns`: those within a step beyond the 90th
    /// percentile of its unmirrored images' turns from its template (`deviations`, radians). A
    /// class that hardly turns is not given the whole range, in which an image nearly its own
    /// mirror can find a turn that fits it about as well mirrored (half-mirrored Fashion-MNIST's
    /// classes keep ±8° to ±30°, the sprites turned within ±45° all of it).
    static func classTurns(_ deviations: [Float], within turns: [Float], step: Float) -> [Float] {
        guard !deviations.isEmpty else { return turns }
        let sorted = deviations.map { abs(atan2(sin($0), cos($0))) }.sorted()
        let range = sorted[min(sorted.count - 1, sorted.count * 9 / 10)] + step
        return turns.filter { abs($0) <= range + 1e-4 }
    }

    /// `images` ([N, C, H, W] values) each turned by its angle (radians; the method's rotation ε).
    static func turned(_ images: [Float], angles: [Float], channels c: Int, height h: Int, width w: Int) -> [Float] {
        guard angles.contains(where: { $0 != 0 }) else { return images }
        var epsilon = [Float](repeating: 0, count: angles.count * 6)
        for (i, angle) in angles.enumerated() { epsilon[i * 6 + AffineGenerator.rotation.index] = angle }
        return AffineAugmentation.warped(images, channels: c, height: h, width: w, epsilon: epsilon)
    }

    /// `images` ([N, C, H, W] values) each moved so that the mass of its positive values sits in
    /// the middle. Mirrors are read on images so centred: a mirror moves an image's offset to
    /// the other side, and a digit 2 px off to one side could fit its class's template better
    /// mirrored (MNIST shifted by ±2 px, turned by ±30° and scaled by ×1.2 read a left–right
    /// mirror p 0.13 as it was).
    static func centredOnMass(_ images: [Float], channels c: Int, height h: Int, width w: Int) -> [Float] {
        let plane = c * h * w, n = images.count / max(1, plane)
        var epsilon = [Float](repeating: 0, count: n * 6)
        for i in 0..<n {
            var (mass, sx, sy): (Float, Float, Float) = (0, 0, 0)
            for k in 0..<plane {
                let v = max(0, images[i * plane + k]), (y, x) = ((k % (h * w)) / w, k % w)
                (mass, sx, sy) = (mass + v, sx + v * Float(x), sy + v * Float(y))
            }
            guard mass > 0 else { continue }
            // The warp samples at q + 0.1·ε (normalised coordinates, −1…1 across the image).
            epsilon[i * 6 + AffineGenerator.translateX.index] = 10 * (2 * sx / mass / Float(max(1, w - 1)) - 1)
            epsilon[i * 6 + AffineGenerator.translateY.index] = 10 * (2 * sy / mass / Float(max(1, h - 1)) - 1)
        }
        return AffineAugmentation.warped(images, channels: c, height: h, width: w, epsilon: epsilon)
    }

    /// `images` ([N, C, H, W]) each moved by its element of `orientations`.
    public static func orient(_ images: [Float], _ orientations: [SymmetryElement], channels c: Int, height h: Int, width w: Int) -> [Float] {
        let plane = c * h * w
        var oriented = images
        for (i, element) in orientations.enumerated() where element != .identity {
            oriented.replaceSubrange((i * plane)..<((i + 1) * plane),
                                     with: element.apply(to: Array(images[(i * plane)..<((i + 1) * plane)]), planes: c, height: h, width: w))
        }
        return oriented
    }

    /// One image's reading: the element that brings it nearest its template (each element at
    /// its nearest turn), the families along which the nearest with and the nearest without
    /// differ by more than the margin, and the element that brings it nearest as it is
    /// (unturned, uncentred) to the template grown so.
    struct Reading {
        var element: SymmetryElement
        var shows: Set<SymmetryFamily>
        var unturned: SymmetryElement
    }

    static func orientation(_ distances: [Float], unturned: [Float], elements: [SymmetryElement], families: Set<SymmetryFamily>, margin: Float,
                            floor: Float = 0) -> Reading {
        let best = distances.indices.min { distances[$0] < distances[$1] }!
        var shows: Set<SymmetryFamily> = []
        for family in families {
            let with = elements.indices.filter { elements[$0].applies(family) }.map { distances[$0] }.min() ?? .infinity
            let without = elements.indices.filter { !elements[$0].applies(family) }.map { distances[$0] }.min() ?? .infinity
            if abs(with - without) > max(margin * min(with, without), floor) { shows.insert(family) }
        }
        return Reading(element: elements[best], shows: shows, unturned: elements[unturned.indices.min { unturned[$0] < unturned[$1] }!])
    }

    /// p for `family` from the readings of `images` (indices, repeats allowed): per class, the
    /// less common orientation's share among its images that show it; ½ when every class could
    /// hold as many of each orientation, else the pooled share when the classes agree, else at
    /// most the share of the class with the smallest upper bound; ½ when too few images show it.
    static func probability(_ family: SymmetryFamily, images: [Int], groups: [Int], readings: [Reading])
        -> (p: Float, pooled: Float, classesAgree: Bool, shown: Float) {
        var counts: [Int: (shown: Int, applied: Int)] = [:]
        for i in images where readings[i].shows.contains(family) {
            counts[groups[i], default: (0, 0)].shown += 1
            if readings[i].element.applies(family) { counts[groups[i], default: (0, 0)].applied += 1 }
        }
        let shownCount = counts.values.reduce(0) { $0 + $1.shown }
        let shown = Float(shownCount) / Float(max(1, images.count))
        guard shownCount >= 20, shown >= fewShown else { return (0.5, 0.5, true, shown) }
        // Classes with too few images that show it say little either way (their bound is wide).
        let classes = counts.values.filter { $0.shown >= 10 }.map { (shown: Double($0.shown), minority: Double(min($0.applied, $0.shown - $0.applied))) }
        let pooled = counts.values.reduce(0.0) { $0 + Double(min($1.applied, $1.shown - $1.applied)) } / Double(shownCount)
        // Could every class hold as many mirror images as not? A sample's less common half is
        // smaller than half by chance (Fashion-MNIST mirrored with p ½ read a pooled 0.43–0.44),
        // so that is asked first, as the whole circle is for a turn: χ² of the counts against ½
        // (df = classes), below its 95th percentile reads ½.
        let againstHalf = classes.reduce(0.0) { sum, c in sum + (2 * c.minority - c.shown) * (2 * c.minority - c.shown) / c.shown }
        if !classes.isEmpty, againstHalf < SpreadEstimator.chiSquareQuantile95(degreesOfFreedom: Double(classes.count)) {
            return (0.5, Float(pooled), true, shown)
        }
        guard classes.count > 1 else { return (Float(pooled), Float(pooled), true, shown) }
        // χ² of one common rate over the classes (df = classes − 1), against its 95th percentile.
        let rate = classes.reduce(0.0) { $0 + $1.minority } / classes.reduce(0.0) { $0 + $1.shown }
        let statistic = classes.reduce(0.0) { sum, c in
            let expected = c.shown * rate
            return sum + (c.minority - expected) * (c.minority - expected) / max(1e-9, expected * (1 - rate))
        }
        if statistic < SpreadEstimator.chiSquareQuantile95(degreesOfFreedom: Double(classes.count - 1)) { return (Float(pooled), Float(pooled), true, shown) }
        // The strictest class: the one whose rate is surely lowest (the smallest upper bound, so
        // that a class with few images showing does not decide by chance); p is its share.
        let strictest = classes.min { wilsonUpperBound(successes: $0.minority, trials: $0.shown) < wilsonUpperBound(successes: $1.minority, trials: $1.shown) }!
        return (Float(min(pooled, strictest.minority / strictest.shown)), Float(pooled), false, shown)
    }

    /// The one-sided 95% upper bound of a rate seen `successes` times in `trials` (Wilson's score interval).
    static func wilsonUpperBound(successes: Double, trials: Double) -> Double {
        let z = 1.6449, p = successes / trials, z2 = z * z
        return (p + z2 / (2 * trials) + z * (p * (1 - p) / trials + z2 / (4 * trials * trials)).squareRoot()) / (1 + z2 / trials)
    }
}
