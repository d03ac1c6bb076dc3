-- submissions_studentitem: final state after edx-submissions migrations
-- (submissions/migrations in openedx/edx-submissions: 0001_initial..0008, or the squashed
-- 0001_squashed_0005_CreateTeamModel). See README.md in this folder.
--
-- No foreign keys. Create it before submissions_submission, submissions_score and
-- submissions_scoresummary, which reference it.

CREATE TABLE IF NOT EXISTS `submissions_studentitem` (
  -- 0001_initial CreateModel StudentItem, in its field order
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  -- CharField(max_length=255, db_index=True); 0002_auto_20151119_0913 -> AnonymizedUserIDField,
  -- which is the same CharField(max_length=255, db_index=True) (no SQL). The learner's
  -- anonymous id (student_anonymoususerid.anonymous_user_id), not auth_user.id.
  `student_id` varchar(255) NOT NULL,
  `course_id` varchar(255) NOT NULL,             -- CharField(max_length=255, db_index=True): a plain string
  `item_id` varchar(255) NOT NULL,               -- CharField(max_length=255, db_index=True): str(usage key) in the LMS
  `item_type` varchar(100) NOT NULL,             -- CharField(max_length=100), e.g. 'openassessment'
  PRIMARY KEY (`id`),
  -- unique_together (course_id, student_id, item_id) from 0001; Django's name is hashed, this one is descriptive
  UNIQUE KEY `submissions_si_course_id_student_id_item_id_uniq` (`course_id`, `student_id`, `item_id`),
  -- db_index=True; Django's names are hashed, these are descriptive
  KEY `submissions_si_student_id_idx` (`student_id`),
  KEY `submissions_si_course_id_idx` (`course_id`),
  KEY `submissions_si_item_id_idx` (`item_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
