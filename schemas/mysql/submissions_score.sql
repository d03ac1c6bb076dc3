-- submissions_score: final state after edx-submissions migrations
-- (submissions/migrations in openedx/edx-submissions). See README.md in this folder.
--
-- Requires submissions_studentitem and submissions_submission first (foreign keys).

CREATE TABLE IF NOT EXISTS `submissions_score` (
  -- 0001_initial CreateModel Score, in its field order
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  `points_earned` int unsigned NOT NULL,         -- PositiveIntegerField(default=0)
  `points_possible` int unsigned NOT NULL,       -- PositiveIntegerField(default=0); 0 = hidden score
  `created_at` datetime(6) NOT NULL,             -- DateTimeField(default=now, db_index=True, editable=False)
  `reset` tinyint(1) NOT NULL,                   -- BooleanField(default=False)
  -- 0001 AddField student_item, then AddField submission (after the CreateModel, so appended)
  `student_item_id` int NOT NULL,                -- ForeignKey(StudentItem, on_delete=CASCADE)
  `submission_id` int DEFAULT NULL,              -- ForeignKey(Submission, null=True); NULL for reset scores
  PRIMARY KEY (`id`),
  -- db_index=True; Django's name is hashed, this one is descriptive
  KEY `submissions_score_created_at_idx` (`created_at`),
  -- indexes backing the foreign keys, named like the constraints (as InnoDB does)
  KEY `submissions_score_student_item_id_fk` (`student_item_id`),
  KEY `submissions_score_submission_id_fk` (`submission_id`),
  CONSTRAINT `submissions_score_student_item_id_fk` FOREIGN KEY (`student_item_id`)
    REFERENCES `submissions_studentitem` (`id`),
  CONSTRAINT `submissions_score_submission_id_fk` FOREIGN KEY (`submission_id`)
    REFERENCES `submissions_submission` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
