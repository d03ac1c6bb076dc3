-- submissions_submission: final state after edx-submissions migrations
-- (submissions/migrations in openedx/edx-submissions). See README.md in this folder.
--
-- Requires submissions_studentitem (submissions_studentitem.sql) first: student_item_id has a
-- foreign key to it. team_submission_id's foreign key to submissions_teamsubmission is left out,
-- because that table is not part of this schema set (see README.md).

CREATE TABLE IF NOT EXISTS `submissions_submission` (
  -- 0001_initial CreateModel Submission, in its field order (student_item FK last)
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  -- UUIDField(db_index=True); on MySQL Django stores a UUID as char(32), hex without dashes.
  -- 0004_remove_django_extensions: UUIDField(default=uuid4, db_index=True)
  `uuid` char(32) NOT NULL,
  `attempt_number` int unsigned NOT NULL,        -- PositiveIntegerField()
  `submitted_at` datetime(6) NOT NULL,           -- DateTimeField(default=now, db_index=True)
  `created_at` datetime(6) NOT NULL,             -- DateTimeField(default=now, db_index=True, editable=False)
  -- field `answer` = JSONField(blank=True, db_column='raw_answer') (jsonfield package: text)
  `raw_answer` longtext NOT NULL,
  `student_item_id` int NOT NULL,                -- ForeignKey(StudentItem, on_delete=CASCADE)
  -- 0003_submission_status AddField (appended): 'A' active, 'D' soft-deleted
  `status` varchar(1) NOT NULL,                  -- CharField(max_length=1, default='A')
  -- 0005_CreateTeamModel AddField (appended): ForeignKey(TeamSubmission, null=True, SET_NULL)
  `team_submission_id` int DEFAULT NULL,
  PRIMARY KEY (`id`),
  -- db_index=True; Django's names are hashed, these are descriptive
  KEY `submissions_sub_uuid_idx` (`uuid`),
  KEY `submissions_sub_submitted_at_idx` (`submitted_at`),
  KEY `submissions_sub_created_at_idx` (`created_at`),
  -- index of the team_submission foreign key (kept; the constraint itself is left out)
  KEY `submissions_sub_team_submission_id_idx` (`team_submission_id`),
  -- index backing the foreign key, named like the constraint (as InnoDB does)
  KEY `submissions_sub_student_item_id_fk` (`student_item_id`),
  CONSTRAINT `submissions_sub_student_item_id_fk` FOREIGN KEY (`student_item_id`)
    REFERENCES `submissions_studentitem` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
