-- user_api_usercoursetag: final state after edX user_api migrations 0001..0005
-- (openedx/core/djangoapps/user_api/migrations in openedx/edx-platform; only 0001_initial
-- touches this table). See README.md in this folder.
--
-- Requires auth_user (auth_user.sql) to exist first: user_id has a foreign key to auth_user.id.

CREATE TABLE IF NOT EXISTS `user_api_usercoursetag` (
  -- 0001_initial CreateModel UserCourseTag, in its field order (the `user` FK is last)
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  -- CharField(max_length=255, db_index=True), e.g. 'xblock.partition_service.partition_<partition id>'
  `key` varchar(255) NOT NULL,
  `course_id` varchar(255) NOT NULL,             -- CourseKeyField(max_length=255, db_index=True)
  `value` longtext NOT NULL,                     -- TextField(): for partition tags the group id as decimal text
  `user_id` int NOT NULL,                        -- ForeignKey(User, related_name='+', on_delete=CASCADE)
  PRIMARY KEY (`id`),
  -- unique_together (user, course_id, key) from 0001, in edX's column order; Django's name is hashed,
  -- this one is descriptive. It also backs the user_id foreign key (leftmost column).
  UNIQUE KEY `user_api_uct_user_id_course_id_key_uniq` (`user_id`, `course_id`, `key`),
  -- db_index=True; Django's names are hashed, these are descriptive
  KEY `user_api_uct_key_idx` (`key`),
  KEY `user_api_uct_course_id_idx` (`course_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `user_api_uct_user_id_fk` FOREIGN KEY (`user_id`) REFERENCES `auth_user` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
