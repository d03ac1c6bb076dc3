-- split_modulestore_django_historicalsplitmodulestorecourseindex: final state after edX
-- split_modulestore_django migrations 0001..0004 (django-simple-history's table for
-- SplitModulestoreCourseIndex). See README.md in this folder.
--
-- Requires auth_user (auth_user.sql) to exist first: history_user_id has a foreign key to auth_user.id.

CREATE TABLE IF NOT EXISTS `split_modulestore_django_historicalsplitmodulestorecourseindex` (
  -- 0001_initial CreateModel HistoricalSplitModulestoreCourseIndex, in its field order
  `id` int NOT NULL,                             -- IntegerField(db_index=True): the course index row's id
  `objectid` varchar(24) NOT NULL,               -- CharField(max_length=24, db_index=True), not unique here
  -- LearningContextKeyField(max_length=255, db_index=True); 0001 RunSQL makes it
  -- "CHARACTER SET utf8 COLLATE utf8_bin NOT NULL" (case-sensitive), kept as utf8mb4_bin here
  `course_id` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `org` varchar(255) NOT NULL,                   -- CharField(max_length=255, db_index=True)
  `draft_version` varchar(24) NOT NULL,          -- CharField(max_length=24, blank=True)
  `published_version` varchar(24) NOT NULL,      -- CharField(max_length=24, blank=True)
  `library_version` varchar(24) NOT NULL,        -- CharField(max_length=24, blank=True)
  `wiki_slug` varchar(255) NOT NULL,             -- CharField(max_length=255, blank=True, db_index=True)
  `base_store` varchar(20) NOT NULL,             -- CharField(max_length=20)
  `edited_on` datetime(6) NOT NULL,              -- DateTimeField()
  `last_update` datetime(6) NOT NULL,            -- DateTimeField()
  `history_id` int NOT NULL AUTO_INCREMENT,      -- AutoField(primary_key=True)
  `history_date` datetime(6) NOT NULL,           -- DateTimeField(): when this version of the row was saved
  `history_change_reason` varchar(100) DEFAULT NULL, -- CharField(max_length=100, null=True)
  `history_type` varchar(1) NOT NULL,            -- CharField(max_length=1): '+' created, '~' changed, '-' deleted
  `edited_by_id` int DEFAULT NULL,               -- IntegerField(null=True)
  `history_user_id` int DEFAULT NULL,            -- ForeignKey(User, null=True, on_delete=SET_NULL)
  PRIMARY KEY (`history_id`),
  -- db_index=True; Django's names are hashed, these are descriptive
  KEY `split_hci_id_idx` (`id`),
  KEY `split_hci_objectid_idx` (`objectid`),
  KEY `split_hci_course_id_idx` (`course_id`),
  KEY `split_hci_org_idx` (`org`),
  KEY `split_hci_wiki_slug_idx` (`wiki_slug`),
  -- index backing the foreign key, named like the constraint (as InnoDB does)
  KEY `split_hci_history_user_id_fk` (`history_user_id`),
  -- on_delete=SET_NULL is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `split_hci_history_user_id_fk` FOREIGN KEY (`history_user_id`) REFERENCES `auth_user` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
