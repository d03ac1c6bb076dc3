-- split_modulestore_django_splitmodulestorecourseindex: final state after edX
-- split_modulestore_django migrations 0001..0004 (common/djangoapps/split_modulestore_django/migrations
-- in openedx/edx-platform; 0004 in openedx/openedx-platform). See README.md in this folder.
--
-- No foreign keys; it can be created in any order.

CREATE TABLE IF NOT EXISTS `split_modulestore_django_splitmodulestorecourseindex` (
  -- 0001_initial CreateModel SplitModulestoreCourseIndex, in its field order
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  `objectid` varchar(24) NOT NULL,               -- CharField(max_length=24, unique=True): the Mongo _id as 24 hex digits
  -- LearningContextKeyField(max_length=255, unique=True); 0001 RunSQL then re-declares it
  -- "CHARACTER SET utf8 COLLATE utf8_bin NOT NULL UNIQUE" so that it compares case-sensitively.
  -- utf8mb4_bin here keeps that binary comparison with the house character set.
  `course_id` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `org` varchar(255) NOT NULL,                   -- CharField(max_length=255, db_index=True)
  -- CharField(max_length=24, blank=True): a structure ObjectId as 24 hex digits, '' when the branch is absent
  `draft_version` varchar(24) NOT NULL,
  `published_version` varchar(24) NOT NULL,
  `library_version` varchar(24) NOT NULL,
  `wiki_slug` varchar(255) NOT NULL,             -- CharField(max_length=255, blank=True, db_index=True)
  `base_store` varchar(20) NOT NULL,             -- CharField(max_length=20): 'mongodb'
  `edited_on` datetime(6) NOT NULL,              -- DateTimeField()
  `last_update` datetime(6) NOT NULL,            -- DateTimeField(): set to now() on every index write
  `edited_by_id` int DEFAULT NULL,               -- IntegerField(null=True), deliberately not a ForeignKey
  PRIMARY KEY (`id`),
  -- unique=True (inline), named after the columns by MySQL/MariaDB
  UNIQUE KEY `objectid` (`objectid`),
  UNIQUE KEY `course_id` (`course_id`),
  -- db_index=True; Django's names are hashed, these are descriptive
  KEY `split_ci_org_idx` (`org`),
  KEY `split_ci_wiki_slug_idx` (`wiki_slug`)
  -- Left out (see README.md): the second unique index `course_id_2` that 0001's RunSQL "... UNIQUE"
  -- adds on MySQL, and 0004's UniqueConstraint(Lower('course_id'),
  -- name='splitmodulestorecourseindex_courseid_unique_ci'), a functional index that MariaDB cannot create.
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
