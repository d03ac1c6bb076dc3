-- student_anonymoususerid: final state after edX student migrations
-- (common/djangoapps/student/migrations in openedx/edx-platform: 0001_initial, or the
-- squashed 0001_squashed_0031_auto_20200317_1122). See README.md in this folder.
--
-- Requires auth_user (auth_user.sql) to exist first: user_id has a foreign key to auth_user.id.

CREATE TABLE IF NOT EXISTS `student_anonymoususerid` (
  -- CreateModel AnonymousUserId, in its field order (the `user` FK is last)
  `id` int NOT NULL AUTO_INCREMENT,                -- AutoField
  `anonymous_user_id` varchar(32) NOT NULL,        -- CharField(max_length=32, unique=True): 32 hex digits
  -- CourseKeyField(max_length=255, blank=True, db_index=True); later LearningContextKeyField via
  -- SeparateDatabaseAndState (no SQL). '' (never NULL) when the id is not course-specific:
  -- the NoneToEmptyManager stores course_id=None as ''.
  `course_id` varchar(255) NOT NULL,
  `user_id` int NOT NULL,                          -- ForeignKey(User, on_delete=CASCADE)
  PRIMARY KEY (`id`),
  -- unique=True (inline), named after the column by MySQL/MariaDB
  UNIQUE KEY `anonymous_user_id` (`anonymous_user_id`),
  -- db_index=True on course_id; Django's name is hashed, this one is descriptive
  KEY `student_anonymoususerid_course_id_idx` (`course_id`),
  -- There is no unique key on (user_id, course_id): several rows per (user, course) are possible.
  -- Index backing the foreign key, named like the constraint (as InnoDB does)
  KEY `student_anonymoususerid_user_id_fk` (`user_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `student_anonymoususerid_user_id_fk` FOREIGN KEY (`user_id`) REFERENCES `auth_user` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
