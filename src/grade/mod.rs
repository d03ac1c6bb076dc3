//! The pure edX grading math.
