-- teams_courseteam: final state after edX teams migrations 0001..0004
-- (lms/djangoapps/teams/migrations in openedx/edx-platform, now openedx/openedx-platform).
-- See README.md in this folder for where each line comes from.
--
-- No foreign keys of its own. Create it before teams_courseteammembership, which
-- references teams_courseteam.id.

CREATE TABLE IF NOT EXISTS `teams_courseteam` (
  -- 0001 CreateModel CourseTeam, in its field order
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `team_id` varchar(255) NOT NULL,                -- 0001 CharField(unique=True); 0002 SlugField(max_length=255, unique=True)
  `discussion_topic_id` varchar(255) NOT NULL,    -- 0001 CharField(unique=True); 0002 SlugField(max_length=255, unique=True)
  `name` varchar(255) NOT NULL,                   -- CharField(max_length=255, db_index=True): the report's "Team Name"
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255, db_index=True)
  `topic_id` varchar(255) NOT NULL,               -- CharField(max_length=255, db_index=True, blank=True); 0004 default='' (Python-side)
  `date_created` datetime(6) NOT NULL,            -- DateTimeField(auto_now_add=True)
  `description` varchar(300) NOT NULL,            -- CharField(max_length=300)
  `country` varchar(2) NOT NULL,                  -- django_countries CountryField(max_length=2, blank=True); 0004 default=''
  `language` varchar(16) NOT NULL,                -- student LanguageField(max_length=16, blank=True); 0004 default=''
  `last_activity_at` datetime(6) NOT NULL,        -- DateTimeField(db_index=True); 0004 default=utc_now (Python-side)
  `team_size` int NOT NULL,                       -- IntegerField(default=0, db_index=True)
  -- 0003 AddField organization_protected (appended)
  `organization_protected` tinyint(1) NOT NULL,   -- BooleanField(default=False)
  PRIMARY KEY (`id`),
  -- unique=True: inline UNIQUEs, which MySQL/MariaDB name after the column
  UNIQUE KEY `team_id` (`team_id`),
  UNIQUE KEY `discussion_topic_id` (`discussion_topic_id`),
  -- db_index=True fields (0001); Django's names are hashed, these are descriptive
  KEY `teams_ct_name_idx` (`name`),
  KEY `teams_ct_course_id_idx` (`course_id`),
  KEY `teams_ct_topic_id_idx` (`topic_id`),
  KEY `teams_ct_last_activity_at_idx` (`last_activity_at`),
  KEY `teams_ct_team_size_idx` (`team_size`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
