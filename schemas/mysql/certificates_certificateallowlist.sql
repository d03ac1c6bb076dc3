-- certificates_certificateallowlist: final state after edX certificates migrations
-- 0001..0038 (lms/djangoapps/certificates/migrations in openedx/edx-platform, now
-- openedx/openedx-platform); the table comes from 0026. See README.md in this folder.
--
-- No foreign key kept: the foreign key user_id -> auth_user.id that edX has is left out
-- so that this file loads without auth_user; its index is kept. Any order.

CREATE TABLE IF NOT EXISTS `certificates_certificateallowlist` (
  -- 0026 CreateModel CertificateAllowlist, in its field order
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `created` datetime(6) NOT NULL,                 -- model_utils AutoCreatedField (TimeStampedModel)
  `modified` datetime(6) NOT NULL,                -- model_utils AutoLastModifiedField
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255, blank=True, default=None)
  `allowlist` tinyint(1) NOT NULL,                -- BooleanField(default=0): only rows with 1 count
  `notes` longtext DEFAULT NULL,                  -- TextField(null=True, default=None)
  `user_id` int NOT NULL,                         -- ForeignKey(auth_user); constraint left out
  PRIMARY KEY (`id`),
  -- unique_together (course_id, user) in the CreateModel options, so inside CREATE TABLE;
  -- Django's name is hashed, this one is descriptive
  UNIQUE KEY `certificates_cal_course_id_user_id_uniq` (`course_id`, `user_id`),
  -- index backing the user_id foreign key (named like the constraint, which is left out here)
  KEY `certificates_cal_user_id_fk` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
