-- submissions_scoresummary: final state after edx-submissions migrations
-- (submissions/migrations in openedx/edx-submissions). See README.md in this folder.
--
-- Requires submissions_studentitem and submissions_score first (foreign keys).

CREATE TABLE IF NOT EXISTS `submissions_scoresummary` (
  -- 0001_initial CreateModel ScoreSummary, in its field order
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  `highest_id` int NOT NULL,                     -- ForeignKey(Score, related_name='+')
  `latest_id` int NOT NULL,                      -- ForeignKey(Score, related_name='+'): what get_scores reads
  -- 0001 AddField student_item (appended): OneToOneField(StudentItem) -> unique
  `student_item_id` int NOT NULL,
  PRIMARY KEY (`id`),
  -- unique=True of the OneToOneField, emitted inline, so MySQL/MariaDB name it after the column;
  -- it also backs that column's foreign key
  UNIQUE KEY `student_item_id` (`student_item_id`),
  -- indexes backing the foreign keys, named like the constraints (as InnoDB does)
  KEY `submissions_ss_highest_id_fk` (`highest_id`),
  KEY `submissions_ss_latest_id_fk` (`latest_id`),
  CONSTRAINT `submissions_ss_highest_id_fk` FOREIGN KEY (`highest_id`) REFERENCES `submissions_score` (`id`),
  CONSTRAINT `submissions_ss_latest_id_fk` FOREIGN KEY (`latest_id`) REFERENCES `submissions_score` (`id`),
  CONSTRAINT `submissions_ss_student_item_id_fk` FOREIGN KEY (`student_item_id`)
    REFERENCES `submissions_studentitem` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
